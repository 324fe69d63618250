"""The perf gate's judgement on synthetic samples: the same code measured in moody blocks passes, a real
slowdown fails, a borderline one is inconclusive, the stored baseline is only drift, and every hard check
(ceiling, plan flip, rows, buffers, counts, missing budget) fails on its own. No servers, no timing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from julia.perf.context import PROJECT
from julia.perf.engine import baseline as baseline_module
from julia.perf.engine import stats, words
from julia.perf.engine.errors import PerfError
from julia.perf.engine.gate import Budget, Budgets, Verdict, failed, judge
from julia.perf.engine.results import Bench, Run

FLOOR_MS = 0.05
QUERY_MS = 0.10


def _lognormal(median: float, n: int, seed: int) -> list[float]:
    """Latency-like samples: right-skewed, a median of `median` ms."""
    rng = np.random.default_rng(seed)
    return list(median * rng.lognormal(0.0, 0.25, n))


def _blocky(median: float, blocks: int, seed: int, size: int = 50, mood: float = 0.3) -> list[float]:
    """Samples in blocks whose pace drifts from block to block, as a shared machine's does: within a block
    the samples share a mood (autocorrelated), so only blocks are independent."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    for _ in range(blocks):
        out += list(median * rng.lognormal(rng.normal(0.0, mood), 0.2, size))
    return out


def _run(query_factor: float = 1.0, *, seed: int = 1, counters: dict[str, object] | None = None) -> Run:
    run = Run({"machine_class": "test", "project": PROJECT.said(), "doctors": 1000})
    run.add(Bench("floor_pg_select1", "floor", None, _lognormal(FLOOR_MS, 2000, seed), blocks=[50] * 40))
    run.add(
        Bench(
            "query_x_warm",
            "query_warm",
            "floor_pg_select1",
            _lognormal(QUERY_MS * query_factor, 2000, seed + 1),
            counters
            or {"rows": 1, "buffers": 3, "plan_nodes": ["Index Scan[idx_x]"], "plan_indexes": ["idx_x"]},
            blocks=[50] * 40,
        )
    )
    return run


def _ab(factor: float, *, seed: int = 1, mood: float = 0.3, blocks: int = 40) -> Run:
    """A head run slowed by `factor` against its base, measured in alternating blocks: each pair of
    blocks shares the machine's mood of that moment (the same seed per pair)."""
    head, base = _run(seed=seed), _run(seed=seed + 100)
    rng = np.random.default_rng(seed)
    moods = rng.normal(0.0, mood, blocks)
    for run, f, noise in ((head, factor, 7), (base, 1.0, 8)):
        inner = np.random.default_rng(seed + noise)
        samples: list[float] = []
        for m in moods:
            samples += list(QUERY_MS * f * np.exp(m) * inner.lognormal(0.0, 0.2, 50))
        run.benches["query_x_warm"].samples_ms = samples
        run.benches["query_x_warm"].blocks = [50] * blocks
    head.base = base
    return head


BUDGETS = Budgets(
    {
        "floor_pg_select1": Budget(ceiling_ms=10),
        "query_x_warm": Budget(ceiling_ms=100, ratio_p50=10, indexes=("idx_x",), max_rows=1, max_buffers=4),
    }
)


def _checks(run: Run, baseline: Run | None = None) -> set[str]:
    return {f.check for v in judge(run, BUDGETS, baseline) for f in v.findings if f.severity == "fail"}


def _verdict(run: Run, baseline: Run | None = None) -> Verdict:
    return next(v for v in judge(run, BUDGETS, baseline) if v.name == "query_x_warm")


@pytest.mark.parametrize("seed", range(20))
def test_the_same_code_passes_whatever_the_machine_mood(seed: int) -> None:
    """A/A: head and base the same distribution, with block-to-block moods of +-30%."""
    verdict = _verdict(_ab(1.0, seed=seed))
    assert verdict.ab is not None
    assert verdict.ab.outcome == "ok"
    assert not verdict.failed


@pytest.mark.parametrize("factor", [1.2, 1.5, 2.0])
def test_a_real_slowdown_fails(factor: float) -> None:
    verdict = _verdict(_ab(factor, seed=3))
    assert verdict.ab is not None
    assert verdict.ab.outcome == "regressed"
    assert {f.check for f in verdict.findings if f.severity == "fail"} == {"regression"}
    assert verdict.ab.low > 1.10


def test_a_slowdown_near_the_threshold_is_inconclusive_not_a_pass() -> None:
    """1.1x with few, moody blocks: the interval straddles the threshold; the gate says so."""
    verdict = _verdict(_ab(1.1, seed=4, blocks=8, mood=0.3))
    assert verdict.ab is not None
    assert verdict.ab.outcome == "inconclusive"
    assert verdict.status == "inconclusive"
    assert verdict.ab.detectable > 1.1
    assert not verdict.failed


def test_an_interval_below_the_slowdown_it_must_catch_has_answered() -> None:
    """Issue 31's indifference zone: the same straddling run, its group held to catch 1.5x ([gate]
    must_catch), is ok when its interval lies below 1.5x, and says it cannot rule out a smaller slowdown;
    one that reaches 1.5x stays inconclusive, and failing is the threshold's alone."""
    run = _ab(1.1, seed=4, blocks=8, mood=0.3)
    straddling = _verdict(run)
    assert straddling.ab is not None
    assert straddling.ab.high < 1.5
    held = dataclasses.replace(BUDGETS, must_catch={"query_warm": 1.5})
    verdict = next(v for v in judge(run, held) if v.name == "query_x_warm")
    assert verdict.ab is not None
    assert (verdict.status, verdict.ab.outcome, verdict.ab.below_threshold) == ("ok", "ok", False)
    assert (verdict.ab.low, verdict.ab.high) == (straddling.ab.low, straddling.ab.high)
    assert "below 1.5x, the slowdown it must catch; it straddles 1.1x" in words.reason(verdict)
    assert words.counts([verdict]).text() == (
        "0 failed / 0 inconclusive / 1 ok (1 of them ruling out only the slowdown they must catch)"
    )
    reaching = dataclasses.replace(BUDGETS, must_catch={"query_warm": straddling.ab.high})
    assert next(v for v in judge(run, reaching) if v.name == "query_x_warm").status == "inconclusive"
    slower = _ab(1.5, seed=3)
    assert _verdict(slower).ab.outcome == "regressed"  # type: ignore[union-attr]
    assert next(v for v in judge(slower, held) if v.name == "query_x_warm").status == "FAIL"


def test_too_few_pairs_conclude_nothing() -> None:
    verdict = _verdict(_ab(3.0, seed=5, blocks=3))
    assert verdict.ab is not None
    assert verdict.ab.outcome == "inconclusive"
    assert verdict.ab.detectable == float("inf")


def test_samples_are_never_the_unit_of_observation() -> None:
    """2,000 autocorrelated samples a side: a per-sample test would call a harmless mood 'significant';
    over 40 block pairs the interval covers 1.0."""
    _, low, high = stats.hodges_lehmann([0.0] * 3 + [0.01, -0.01] * 10)
    assert low <= 0 <= high
    verdict = _verdict(_ab(1.0, seed=6, mood=0.5))
    assert verdict.ab is not None
    assert verdict.ab.low < 1.0 < verdict.ab.high


def test_the_stored_baseline_is_information_never_a_failure() -> None:
    """Timing against another run (maybe another machine) is drift: 2x slower than the baseline, shown."""
    slow = _run(2.0, seed=10)
    verdict = _verdict(slow, _run(seed=20))
    assert verdict.drift is not None
    assert verdict.drift.time > 1.8
    assert not verdict.failed
    assert any(f.check == "drift" and f.severity == "info" for f in verdict.findings)


def test_hodges_lehmann_matches_a_known_interval() -> None:
    """The estimate is the median of the Walsh averages; the interval holds the true shift."""
    rng = np.random.default_rng(11)
    values = list(rng.normal(0.2, 0.05, 40))
    estimate, low, high = stats.hodges_lehmann(values)
    assert abs(estimate - 0.2) < 0.03
    assert low < 0.2 < high
    assert high - low < 0.06


def test_budgets_written_for_another_scale_are_shown_not_enforced() -> None:
    heavy = _run(
        counters={"rows": 2, "buffers": 9, "plan_nodes": ["Index Scan[idx_x]"], "plan_indexes": ["idx_x"]}
    )
    heavy.stamp["doctors"] = 100_000
    assert _checks(heavy) == set()
    flipped = _run(counters={"rows": 1, "buffers": 3, "plan_nodes": ["Seq Scan"], "plan_indexes": []})
    flipped.stamp["doctors"] = 100_000
    assert _checks(flipped) == {"plan"}  # a plan flip fails at every scale


def test_a_count_above_the_base_fails() -> None:
    budgets = Budgets({**BUDGETS.benches, "query_x_warm": Budget(counts=(("pg_statements", 20),))})
    head = _ab(1.0, seed=2)
    head.benches["query_x_warm"].counters = {"pg_statements": 13}
    assert head.base is not None
    head.base.benches["query_x_warm"].counters = {"pg_statements": 12}
    verdict = next(v for v in judge(head, budgets) if v.name == "query_x_warm")
    assert [f.message for f in verdict.findings if f.severity == "fail"] == ["pg_statements 12 => 13 (base)"]


def test_results_round_trip_with_their_base_and_read_version_1(tmp_path: Path) -> None:
    head = _ab(1.2, seed=1)
    path = tmp_path / "results.json"
    head.save(path)
    loaded = Run.load(path)
    assert loaded.base is not None
    assert loaded.benches["query_x_warm"].blocks == [50] * 40
    assert json.loads(path.read_text())["schema_version"] == 2
    old = {
        "stamp": {"project": PROJECT.said(), "doctors": 1000},
        "benches": {"x": {"name": "x", "group": "g", "floor": None, "samples_ms": [1.0]}},
    }
    path.write_text(json.dumps(old))
    assert Run.load(path).benches["x"].blocks is None
    path.write_text("# julia")
    with pytest.raises(ValueError, match="Expecting value"):
        Run.load(path)


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


def test_a_ceiling_the_base_broke_beside_it_is_the_machine_not_the_change() -> None:
    """Both sides above the ceiling, within the threshold of each other: a warning naming both. The head
    above it by more than the threshold over its base (one that held it with room, or not) still fails."""
    budgets = Budgets({**BUDGETS.benches, "query_x_warm": Budget(ceiling_ms=0.05)})

    def ceiling(run: Run) -> str:
        verdict = next(v for v in judge(run, budgets) if v.name == "query_x_warm")
        return next(f.severity for f in verdict.findings if f.check == "ceiling")

    def with_base_p99(base_ms: float) -> Run:
        run = _ab(1.0, seed=2)
        assert run.base is not None
        run.base.benches["query_x_warm"].samples_ms = [base_ms] * 2000
        return run

    assert ceiling(_ab(1.0, seed=2)) == "warn"  # both far above 0.05 ms, alike
    assert ceiling(_ab(3.0, seed=2)) == "fail"  # the head 3x its base
    assert ceiling(with_base_p99(0.01)) == "fail"  # the base held it


def test_a_benchmark_without_budget_fails() -> None:
    run = _run()
    run.add(Bench("query_new_warm", "query_warm", "floor_pg_select1", [0.1, 0.2]))
    assert _checks(run) == {"budget"}


def test_subsample_keeps_the_distribution() -> None:
    samples = _lognormal(QUERY_MS, 5000, 3)
    reduced = stats.subsample(samples, 400)
    assert len(reduced) == 400
    assert abs(np.median(reduced) / np.median(samples) - 1) < 0.01


def test_paired_ratios_are_used_for_the_ratio_budget() -> None:
    """A machine that slowed mid-run: the query's own paired ratios stay within budget."""
    run = _run(2.0, seed=10)
    run.benches["query_x_warm"].ratios = [QUERY_MS / FLOOR_MS] * 2000
    assert not failed(judge(run, BUDGETS))


def test_a_baseline_update_records_why_and_keeps_a_subsample(tmp_path: Path) -> None:
    with pytest.raises(PerfError, match="reason"):
        baseline_module.write_baseline(tmp_path, _run(), "  ")
    injected = _run()
    injected.stamp["injected"] = "sleep"
    with pytest.raises(PerfError, match="injected"):
        baseline_module.write_baseline(tmp_path, injected, "because")
    baseline_module.write_baseline(tmp_path, _run(), "first", who="ana")
    path = baseline_module.write_baseline(tmp_path, _run(seed=5), "new index", who="bia")
    stored = json.loads(path.read_text())
    assert [(u["who"], u["why"]) for u in stored["updates"]] == [("ana", "first"), ("bia", "new index")]
    loaded = baseline_module.load_baseline(tmp_path, "test")
    assert loaded is not None
    assert len(loaded.benches["query_x_warm"].samples_ms) == baseline_module.BASELINE_SAMPLES


def test_a_benchmark_without_timing_verdict_by_design_says_so() -> None:
    """timing = false (a burst: one block per side): no 'inconclusive' warning on every run, but the
    ceiling and counts still judge it."""
    budgets = Budgets({**BUDGETS.benches, "query_x_warm": Budget(ceiling_ms=0.01, timing=False)})
    verdict = next(v for v in judge(_ab(3.0, seed=2), budgets) if v.name == "query_x_warm")
    assert verdict.ab is None
    assert {f.check for f in verdict.findings if f.severity == "fail"} == {"ceiling"}
    assert any("by design" in f.message for f in verdict.findings)


def test_timing_regression_is_a_warning_while_timing_fails_is_off() -> None:
    """[gate] timing_fails = false: the slowdown is still reported (as a warning), never hidden."""
    advisory = Budgets(BUDGETS.benches, timing_fails=False)
    verdict = next(v for v in judge(_ab(1.5, seed=3), advisory) if v.name == "query_x_warm")
    assert verdict.ab is not None
    assert verdict.ab.outcome == "regressed"
    assert not verdict.failed
    assert [f.severity for f in verdict.findings if f.check == "regression"] == ["warn"]


def test_power_is_said_at_50_and_80_percent() -> None:
    """50%: the lower bound lands on the threshold (T x e^hw, what "detectable" always was); 80%: the
    normal model's T x e^(hw (1 + z_0.8 / z_0.975)), larger."""
    ab = stats.ABComparison(20, 1.05, 1.0, 1.1025, 1.10, "inconclusive")
    half = (np.log(1.1025) - np.log(1.0)) / 2
    assert ab.detectable == pytest.approx(1.10 * np.exp(half))
    assert ab.effect_at(0.5) == ab.detectable
    assert ab.detectable_80 == pytest.approx(1.10 * np.exp(half * (1 + 0.841621 / 1.959964)), rel=1e-6)
    assert ab.detectable < ab.detectable_80


def test_the_80_percent_effect_is_caught_four_times_in_five() -> None:
    """The power claim checked by simulation under the model it rests on (block-pair log-ratios normal,
    24 pairs): a head slower by the typical run's 80%-power effect fails about 4 runs in 5 with the same
    spread, by its 50%-power effect about half."""
    rng = np.random.default_rng(11)
    pairs, spread, threshold = 24, 0.06, 1.10

    def one_run(effect: float) -> stats.ABComparison:
        logs = rng.normal(np.log(effect), spread, pairs)
        return stats.compare_blocks([[np.exp(x)] for x in logs], [[1.0]] * pairs, threshold=threshold)

    probes = [one_run(1.0) for _ in range(200)]
    for power, effect in (
        (0.5, float(np.median([p.detectable for p in probes]))),
        (0.8, float(np.median([p.detectable_80 for p in probes]))),
    ):
        failed = sum(one_run(effect).outcome == "regressed" for _ in range(400))
        assert failed / 400 == pytest.approx(power, abs=0.07)


def test_an_uncalibrated_class_gets_conservative_thresholds() -> None:
    budgets = Budgets(
        {"tight": Budget(threshold=1.05), "wide": Budget(threshold=1.4), "default": Budget()},
        threshold=1.10,
        uncalibrated_threshold=1.20,
    )
    wary = budgets.conservative()
    assert wary.threshold_of("tight") == 1.20
    assert wary.threshold_of("wide") == 1.4  # never lowered
    assert wary.threshold_of("default") == 1.20
    assert wary.threshold_of("not budgeted") == 1.20
    assert budgets.threshold_of("tight") == 1.05  # the calibrated class's own stay as they are
    assert wary.extra_blocks().threshold_of("tight") == 1.20  # extra blocks chase the same verdict
