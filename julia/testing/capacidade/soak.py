"""`python -m julia.testing.capacidade --soak MINUTES`: the gate's storm rate (15 doctors a second, one
worker, the same fakes) held for MINUTES, a new doctor each message; it fails, beside the storm's own
reasons, when a julia process's USS grows faster than the budget per 1,000 messages over the later half
of the run (julia.perf.engine.memory.growth_per_1000: the first half holds the warm-up).

The budget, BUDGET_KIB_PER_1000, and why: see its comment; the evidence that it catches a leak of one
object per message is in docs/performance.md ("Memory under load").
"""

from __future__ import annotations

from typing import Any

from julia.perf.engine import memory
from julia.testing.capacidade.carga import Cenario
from julia.testing.capacidade.portao import TEMPESTADE_CURTA

RATE_PER_S = TEMPESTADE_CURTA.medicos / TEMPESTADE_CURTA.janela_s
# USS growth allowed per 1,000 messages over a soak's later half. Measured (2-core x86_64, embedded
# servers, other engineers' tests running beside it, 2026-12-07): unchanged code's serve and worker grew
# at most SOAK_BASELINE_KIB per 1,000 messages in 5-minute soaks (docs/performance.md), and a leak of one
# webhook body per message (about 2.5 KiB retained each, so 2,500 KiB per 1,000) is far above that. The
# budget sits between them: above what unchanged code shows on a busy machine, below a leak of one
# message-sized object per message.
BUDGET_KIB_PER_1000 = 1000.0


def cenario(minutos: float) -> Cenario:
    janela_s = 60.0 * minutos
    return Cenario(medicos=round(RATE_PER_S * janela_s), janela_s=janela_s, workers=1, drenar_s=30.0)


def falhas(resultado: dict[str, Any], budget_kib: float) -> list[str]:
    """The soak's reasons to fail: each julia process over the growth budget (or not measured)."""
    nome = resultado["cenario"]["nome"]
    return [f"{nome} soak: {m}" for m in memory.over_budget(resultado["memoria"], budget_kib)]
