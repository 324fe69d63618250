"""One percentile definition: julia.metrics.percentile (the service, the capacity report) and the perf
engine's numpy summaries read the same figures from the same samples."""

from __future__ import annotations

import random

import pytest

from julia.metrics import percentile
from julia.perf.engine.stats import summarize
from julia.testing.capacity.summaries import summary


@pytest.mark.parametrize("n", [1, 2, 7, 300, 1000])
def test_the_engine_and_julia_agree(n: int) -> None:
    values = [random.Random(n).lognormvariate(0, 1) for _ in range(n)]
    ordered = sorted(values)
    summary = summarize(values)
    assert (summary.p50, summary.p95, summary.p99) == pytest.approx(
        [percentile(ordered, q) for q in (50, 95, 99)], rel=1e-12
    )


def test_the_capacity_report_interpolates_too() -> None:
    figures = summary([float(v) for v in range(1, 1001)])
    assert figures == {"p50": 500.5, "p90": 900.1, "p99": 990.01, "max": 1000.0, "n": 1000}
