"""Capacity gate: julia's real `serve` and `worker` processes answer a short campaign storm (300 doctors
in 20 s, Claude at median 2 s / p99 8 s) exactly once each, within Claude's p99 + 2 s at p99.

A hard gate, not a baseline comparison: a lost or doubled message, or a p99 beyond the budget, fails the
run whatever the machine. The full matrix (1,000 and 10,000 doctors, 1, 2 and 4 workers) is
`nox -s perf-capacity`; this one takes under a minute. Its result goes to reports/out/capacity-gate.json.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from julia import servers
from julia.testing.capacidade.__main__ import linha
from julia.testing.capacidade.portao import tempestade_curta

SAIDA = Path("reports/out/capacity-gate.json")


async def test_tempestade_curta(services: servers.Services) -> None:
    resultado, motivos = await tempestade_curta(services, Path("reports/out/capacity"))
    await asyncio.to_thread(_gravar, resultado)
    print(linha(resultado))
    assert not motivos, "; ".join(motivos)


def _gravar(resultado: dict[str, Any]) -> None:
    SAIDA.parent.mkdir(parents=True, exist_ok=True)
    SAIDA.write_text(json.dumps(resultado, indent=1))
