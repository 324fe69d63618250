"""The perf gate's judgement on synthetic samples: noise passes, a real slowdown fails, and every hard
check (ceiling, plan flip, rows, buffers, missing budget) fails on its own. No servers, no timing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from julia.errors import JuliaError
from julia.perf import baseline as baseline_module
from julia.perf import stats
from julia.perf.gate import Budget, Budgets, failed, judge
from julia.perf.results import Bench, Run

FLOOR_MS = 0.05
QUERY_MS = 0.10


def _lognormal(median: float, n: int, seed: int) -> list[float]:
    """Latency-like samples: right-skewed, a median of `median` ms."""
    rng = np.random.default_rng(seed)
    return list(median * rng.lognormal(0.0, 0.25, n))


def _run(query_factor: float = 1.0, *, seed: int = 1, counters: dict[str, object] | None = None) -> Run:
    run = Run({"machine_class": "test", "doctors": 1000})
    run.add(Bench("floor_pg_select1", "floor", None, _lognormal(FLOOR_MS, 2000, seed)))
    run.add(
        Bench(
            "query_x_warm",
            "query_warm",
            "floor_pg_select1",
            _lognormal(QUERY_MS * query_factor, 2000, seed + 1),
            counters
            or {"rows": 1, "buffers": 3, "plan_nodes": ["Index Scan[idx_x]"], "plan_indexes": ["idx_x"]},
        )
    )
    return run


BUDGETS = Budgets(
    {
        "floor_pg_select1": Budget(ceiling_ms=10),
        "query_x_warm": Budget(ceiling_ms=100, ratio_p50=10, indexes=("idx_x",), max_rows=1, max_buffers=4),
    }
)


def _checks(run: Run, baseline: Run | None = None) -> set[str]:
    return {f.check for v in judge(run, BUDGETS, baseline) for f in v.findings if f.severity == "fail"}


def test_same_distribution_passes() -> None:
    assert not failed(judge(_run(seed=10), BUDGETS, _run(seed=20)))


@pytest.mark.parametrize("factor", [1.5, 2.0])
def test_real_slowdown_fails(factor: float) -> None:
    assert _checks(_run(factor, seed=10), _run(seed=20)) == {"regression"}


def test_small_shift_is_not_a_regression() -> None:
    """1.1x is significant with 2,000 samples, but under the minimum effect: not a failure."""
    verdict = next(v for v in judge(_run(1.1, seed=10), BUDGETS, _run(seed=20)) if v.name == "query_x_warm")
    assert verdict.comparison is not None
    assert verdict.comparison.p_value < stats.ALPHA
    assert not verdict.comparison.regressed
    assert not verdict.failed


def test_a_slower_machine_is_not_a_regression() -> None:
    """Floor and query both 2x slower: the ratio is what is compared, so nothing fails."""
    slow = _run(2.0, seed=10)
    slow.benches["floor_pg_select1"].samples_ms = [2 * s for s in slow.benches["floor_pg_select1"].samples_ms]
    assert not failed(judge(slow, BUDGETS, _run(seed=20)))


def test_a_quieter_machine_is_not_a_regression() -> None:
    """The floor's round trip halves, the query's time stays: its ratio doubles, but julia is no slower."""
    quiet = _run(seed=10)
    quiet.benches["floor_pg_select1"].samples_ms = [
        s / 2 for s in quiet.benches["floor_pg_select1"].samples_ms
    ]
    verdict = next(v for v in judge(quiet, BUDGETS, _run(seed=20)) if v.name == "query_x_warm")
    assert verdict.comparison is not None
    assert verdict.comparison.effect > stats.MIN_EFFECT
    assert not verdict.failed


def test_compare_needs_both_the_test_and_the_effect() -> None:
    few_slow = stats.compare([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])  # 2x, but three samples cannot be significant
    assert few_slow.effect > stats.MIN_EFFECT
    assert not few_slow.regressed


def test_plan_flip_fails_without_a_baseline() -> None:
    flipped = _run(counters={"rows": 1, "buffers": 3, "plan_nodes": ["Seq Scan"], "plan_indexes": []})
    assert _checks(flipped) == {"plan"}


def test_more_rows_or_buffers_than_budgeted_fail() -> None:
    heavy = _run(
        counters={"rows": 2, "buffers": 9, "plan_nodes": ["Index Scan[idx_x]"], "plan_indexes": ["idx_x"]}
    )
    assert _checks(heavy) == {"rows", "buffers"}


def test_ceiling_and_ratio_budget_fail() -> None:
    assert _checks(_run(2000.0)) == {"ceiling", "ratio"}  # 200 ms p50: 4,000x its floor


def test_a_benchmark_without_budget_fails() -> None:
    run = _run()
    run.add(Bench("query_new_warm", "query_warm", "floor_pg_select1", [0.1, 0.2]))
    assert _checks(run) == {"budget"}


def test_subsample_keeps_the_distribution() -> None:
    samples = _lognormal(QUERY_MS, 5000, 3)
    reduced = stats.subsample(samples, 400)
    assert len(reduced) == 400
    assert abs(np.median(reduced) / np.median(samples) - 1) < 0.01
    assert not stats.compare(samples, reduced).regressed


def test_paired_ratios_are_judged_instead_of_the_run_wide_floor() -> None:
    """A machine that slowed mid-run: the query's own paired ratios say nothing changed."""
    run = _run(2.0, seed=10)
    run.benches["query_x_warm"].ratios = [QUERY_MS / FLOOR_MS] * 2000
    baseline = _run(seed=20)
    baseline.benches["query_x_warm"].ratios = [QUERY_MS / FLOOR_MS] * 400
    assert not failed(judge(run, BUDGETS, baseline))


def test_a_baseline_update_records_why_and_keeps_a_subsample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baseline_module, "perf_dir", lambda: tmp_path)
    with pytest.raises(JuliaError, match="reason"):
        baseline_module.write_baseline(_run(), "  ")
    injected = _run()
    injected.stamp["injected"] = "sleep"
    with pytest.raises(JuliaError, match="injected"):
        baseline_module.write_baseline(injected, "because")
    baseline_module.write_baseline(_run(), "first", who="ana")
    path = baseline_module.write_baseline(_run(seed=5), "new index", who="bia")
    stored = json.loads(path.read_text())
    assert [(u["who"], u["why"]) for u in stored["updates"]] == [("ana", "first"), ("bia", "new index")]
    loaded = baseline_module.load_baseline("test")
    assert loaded is not None
    assert len(loaded.benches["query_x_warm"].samples_ms) == baseline_module.BASELINE_SAMPLES
