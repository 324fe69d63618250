"""Summaries the capacity report gives: percentiles and counts per second.

Percentiles are julia.metrics.percentile's, the one definition julia uses (linear interpolation between
the closest ranks, numpy's default): the service's /metrics and health check, the perf engine's
summaries (julia.perf.engine.stats, through numpy) and this report all read a p99 the same way, so a
capacity p99 and a benchmark's can be set side by side. Nearest rank, used here before, read the
990th of 1,000 values where the others interpolate between the 990th and the 991st.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from julia.metrics import percentile

PERCENTIS = (50, 90, 99)


def resumo(valores: Sequence[float]) -> dict[str, float]:
    ordenados = sorted(valores)
    saida = {f"p{p}": round(percentile(ordenados, p), 3) if ordenados else math.nan for p in PERCENTIS}
    saida["max"] = round(ordenados[-1], 3) if ordenados else math.nan
    saida["n"] = len(ordenados)
    return saida


def por_segundo(instantes: Sequence[float], inicio: float) -> list[int]:
    """How many of `instantes` fell in each whole second from `inicio`."""
    if not instantes:
        return []
    contagem = [0] * (int(max(instantes) - inicio) + 1)
    for t in instantes:
        contagem[max(0, int(t - inicio))] += 1
    return contagem
