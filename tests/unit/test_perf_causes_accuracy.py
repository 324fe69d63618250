"""perf/causes_accuracy.py's tally (nothing measured here): on fixture rounds shaped as it writes them, the
runs where every benchmark said "no attributable change" are counted apart from those where any named a
cause, the timing false failures per run, and the wall time with the evidence on against off."""

from __future__ import annotations

from typing import Any

from julia.perf.engine import causes, stats
from julia.perf.engine.gate import Finding, Verdict
from tests.support.scripts import load_script


def _bench(timing: str = "ok", cause: str = causes.NOTHING, kind: str | None = None) -> dict[str, Any]:
    return {
        "status": "FAIL" if timing == "failed" else {"inconclusive": "inconclusive"}.get(timing, "ok"),
        "timing": timing,
        "cause": cause,
        "cause_kind": kind,
        "allocations": [],
    }


def _round(kind: str, n: int, wall: float, **benches: dict[str, Any]) -> dict[str, Any]:
    every = {
        "query_buscar_vagas_warm": _bench(),
        "cache_vagas_hit": _bench(),
        "message_path_claude0ms": _bench(),
    }
    return {
        "kind": kind,
        "round": n,
        "wall_s": wall,
        "extra_s": 10.0 if n == 2 else 0.0,
        "load_before": [1.0, 1.0, 1.0],
        "benches": every | benches,
    }


CPU = "+6.0 us CPU per read in redis/asyncio/client.py:Redis.execute_command (self time, ...)"
ROUNDS = [
    _round("on", 1, 120.0),
    _round("off", 1, 100.0, query_buscar_vagas_warm=_bench("inconclusive")),
    _round("on", 2, 130.0, cache_vagas_hit=_bench("inconclusive", CPU, "profile")),
    _round("off", 2, 104.0),
    _round("on", 3, 125.0, message_path_claude0ms=_bench("failed")),
]


def test_a_run_counts_as_unexplained_only_when_every_benchmark_said_nothing() -> None:
    figures = load_script("causes_accuracy").tally(ROUNDS)
    on = figures["on"]
    assert on["rounds"] == 3
    assert on["rounds_nothing_named"] == 2  # a timing failure with no cause is still "nothing named"
    assert on["rounds_cause_named"] == 1
    assert on["rounds_cause_named_unasked"] == 1  # the benchmark that named one was inconclusive
    assert on["named_benchmarks"] == {"cache_vagas_hit": 1}
    assert on["named_kinds"] == {"profile": 1}
    assert on["named_lines"] == [{"round": 2, "bench": "cache_vagas_hit", "kind": "profile", "line": CPU}]
    assert on["timing_failed_per_run"] == [0, 0, 1]
    assert on["rounds_timing_failed"] == 1
    assert on["timing_failed_benchmarks"] == {"message_path_claude0ms": 1}
    assert on["inconclusive_per_run"] == [0, 1, 0]
    assert on["rounds_gate_failed"] == 1
    assert figures["off"]["rounds_nothing_named"] == 2
    assert figures["off"]["inconclusive_per_run"] == [1, 0]


def test_the_wall_time_growth_is_the_medians_ratio_with_every_pairs_range() -> None:
    figures = load_script("causes_accuracy").tally(ROUNDS)
    assert figures["on"]["wall_s"] == {"min": 120.0, "median": 125.0, "max": 130.0}
    assert figures["wall_growth"] == {
        "median_ratio": 1.225,
        "min_ratio": 1.154,
        "max_ratio": 1.3,
        "median_added_s": 23.0,
    }
    # less the extra blocks: on 120, 120, 125 against off 100, 94
    assert figures["wall_growth_without_extra_blocks"]["median_ratio"] == round(120 / 97, 3)
    assert "wall_growth" not in load_script("causes_accuracy").tally([r for r in ROUNDS if r["kind"] == "on"])


def test_the_table_says_the_counts_as_n_of_m() -> None:
    accuracy = load_script("causes_accuracy")
    text = accuracy.table(accuracy.tally(ROUNDS))
    on, off = text.splitlines()[2:4]
    assert on.startswith(
        "| profiles and allocations on | 3 | 2 of 3 | 1 runs: cache_vagas_hit x1 (profile x1) |"
    )
    assert "(profile x1) | 1 in 3 runs (1 runs with any) | 0-0-1 |" in on
    assert off.startswith("| --no-profiles-or-allocations | 2 | 2 of 2 | none | 0 in 2 runs")
    assert [line.count("|") for line in text.splitlines()[:4]] == [10] * 4  # nine columns each
    assert "1.225x the medians' ratio (every pair of rounds 1.154-1.300x), +23 s" in text


def _verdict(*findings: Finding, compared: bool = True) -> Verdict:
    verdict = Verdict(
        "q", "query_warm", stats.Summary(0, *(float("nan"),) * 5), None, findings=list(findings)
    )
    if compared:
        verdict.ab = stats.ABComparison(12, 1.0, 0.97, 1.03, 1.05, "ok")
    return verdict


def test_the_timing_verdict_is_read_from_the_timing_findings_alone() -> None:
    timing = load_script("causes_accuracy").timing
    assert timing(_verdict(Finding("fail", "regression", "1.2x"))) == "failed"
    assert timing(_verdict(Finding("warn", "inconclusive", "straddles"))) == "inconclusive"
    assert timing(_verdict(Finding("fail", "allocations", "peak"))) == "ok"  # not a timing failure
    assert timing(_verdict(compared=False)) == "none"
