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

PERCENTILES = (50, 90, 99)


def summary(values: Sequence[float]) -> dict[str, float]:
    ordered_values = sorted(values)
    output = {
        f"p{p}": round(percentile(ordered_values, p), 3) if ordered_values else math.nan for p in PERCENTILES
    }
    output["max"] = round(ordered_values[-1], 3) if ordered_values else math.nan
    output["n"] = len(ordered_values)
    return output


def per_second(instants: Sequence[float], start_at: float) -> list[int]:
    """How many of `instants` fell in each whole second from `start_at`."""
    if not instants:
        return []
    tally = [0] * (int(max(instants) - start_at) + 1)
    for t in instants:
        tally[max(0, int(t - start_at))] += 1
    return tally
