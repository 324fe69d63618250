"""`python -m julia.testing.capacidade --soak MINUTES`: the gate's storm rate (15 doctors a second, one
worker, the same fakes) held for MINUTES, a new doctor each message; it fails, beside the storm's own
reasons, when a julia process's USS grows faster than the budget per 1,000 messages over the later half
of the run (julia.perf.engine.memory.growth_per_1000: the first half holds the warm-up).

The budget, BUDGET_KIB_PER_1000, and why: see its comment; the evidence that it catches a leak of one
object per message is in docs/performance.md ("The soak catches a leak of one object per message").
"""

from __future__ import annotations

from typing import Any

from julia.perf.engine import memory
from julia.testing.capacidade.carga import Cenario
from julia.testing.capacidade.portao import TEMPESTADE_CURTA

RATE_PER_S = TEMPESTADE_CURTA.medicos / TEMPESTADE_CURTA.janela_s
# USS growth allowed per 1,000 messages over a soak's later half. Measured in 5- and 6-minute soaks (2-core
# x86_64, embedded servers, other engineers' benchmarks and tests running beside them, 2026-12-07;
# docs/performance.md, "Memory"): unchanged code's serve grew 5 KiB per 1,000 messages and its worker 70,
# and 197 in a second soak whose only change was a leak in serve; that leak, one parsed message
# (MensagemRecebida, about 400 bytes with its strings) kept per webhook, made serve grow 477, and one
# claimed row kept per message made the worker grow 867. The budget sits between the worker's worst
# unchanged figure and the smaller leak: 1.5x the first, 0.63x the second. The worker's unchanged growth
# is named (tracemalloc snapshots): its memo of Chatwoot ids, about 97 bytes per new conversation, and a
# soak makes every message a new conversation; bounded at espelho.LEMBRADAS (100,000), so a warm-up, not
# a leak. Three soaks are not a false-failure rate.
BUDGET_KIB_PER_1000 = 300.0


def cenario(minutos: float) -> Cenario:
    janela_s = 60.0 * minutos
    return Cenario(medicos=round(RATE_PER_S * janela_s), janela_s=janela_s, workers=1, drenar_s=30.0)


def falhas(resultado: dict[str, Any], budget_kib: float) -> list[str]:
    """The soak's reasons to fail: each julia process over the growth budget (or not measured)."""
    nome = resultado["cenario"]["nome"]
    return [f"{nome} soak: {m}" for m in memory.over_budget(resultado["memoria"], budget_kib)]
