"""Summaries the capacity report gives: percentiles by nearest rank, and counts per second."""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTIS = (50, 90, 99)


def percentil(ordenados: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (p99 of 1,000 values is the 990th)."""
    if not ordenados:
        return math.nan
    return ordenados[max(0, math.ceil(p / 100 * len(ordenados)) - 1)]


def resumo(valores: Sequence[float]) -> dict[str, float]:
    ordenados = sorted(valores)
    saida = {f"p{p}": round(percentil(ordenados, p), 3) for p in PERCENTIS}
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
