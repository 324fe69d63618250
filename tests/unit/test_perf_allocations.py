"""Allocations per call (julia.perf.engine.allocations): what tracemalloc sees of one call, and the
gate's verdict against the base's."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import pytest

from julia.perf.context import Perf
from julia.perf.engine import allocations, memory_report
from julia.perf.engine.gate import Budget, Budgets, judge
from julia.perf.engine.report import html_table
from julia.perf.engine.results import Bench, Run
from julia.servers import Servers

KEPT: list[bytes] = []


@pytest.fixture
def kept() -> Iterator[list[bytes]]:
    """KEPT, empty when the test starts and emptied again after it (what it held is not the next's)."""
    KEPT.clear()
    yield KEPT
    KEPT.clear()


async def _transient(_: int) -> None:
    buffer = bytearray(200_000)  # held across an await, then dropped: the peak, not the net
    await asyncio.sleep(0)
    del buffer


async def _leaks(_: int) -> None:
    KEPT.append(b"x" * 50_000)
    await asyncio.sleep(0)


async def test_a_transient_copy_raises_the_peak_and_leaves_nothing() -> None:
    [a, b, c] = await allocations.measure(_transient, 3)
    for one in (a, b, c):
        assert 200_000 <= one.peak_bytes < 210_000
        assert abs(one.net_bytes) < 2_000
    assert not tracemalloc.is_tracing()  # stopped again: the timed blocks pay nothing


@pytest.mark.usefixtures("kept")
async def test_what_a_call_keeps_is_its_net() -> None:
    found = await allocations.measure(_leaks, 3)
    assert all(50_000 <= one.net_bytes < 52_000 for one in found)


async def test_before_each_call_is_not_counted(kept: list[bytes]) -> None:
    async def prepare(_: int) -> None:
        kept.append(b"y" * 100_000)

    found = await allocations.measure(_transient, 2, before=prepare)
    assert all(one.net_bytes < 2_000 for one in found)


async def test_after_each_call_is_not_counted(kept: list[bytes]) -> None:
    async def undo(_: int) -> None:
        kept.append(b"z" * 100_000)

    found = await allocations.measure(_transient, 2, after=undo)
    assert all(one.net_bytes < 2_000 for one in found)
    assert len(kept) == 2


def test_the_median_over_the_calls_is_recorded() -> None:
    found = [allocations.Allocation(p, n, b) for p, n, b in ((1000, 0, 0), (1200, 64, 1), (5000, 0, 0))]
    assert allocations.typical(found) == {
        "alloc_peak_bytes": 1200,
        "alloc_peak_bytes_range": [1000, 5000],
        "alloc_net_bytes": 0,
        "alloc_net_blocks": 0,
        "alloc_calls": 3,
    }
    assert allocations.typical([]) == {}


def test_a_peak_above_the_bases_beyond_the_tolerance_fails_and_within_it_passes() -> None:
    base = {"alloc_peak_bytes": 100_000}
    assert allocations.growth({"alloc_peak_bytes": 104_000}, base, "base") == []
    assert allocations.growth({"alloc_peak_bytes": 110_000}, base, "base") == [
        "alloc_peak_bytes 100,000 => 110,000 (1.10x the base's, above 1.05x and 1,024 bytes more)"
    ]
    assert allocations.growth({"alloc_peak_bytes": 110_000}, {}, "base") == []  # a base from before
    assert allocations.growth({}, base, "base") == []


def test_a_small_calls_growth_within_the_floor_in_bytes_passes() -> None:
    # A cache read's 8-14 KiB peak moves a few hundred bytes with asyncio's stream buffers alone: 1.06x
    # of 12 KiB (737 bytes) is not reported, 1.10x of it (1,229 bytes) is.
    base = {"alloc_peak_bytes": 12_288}
    assert allocations.growth({"alloc_peak_bytes": 13_025}, base, "base") == []
    assert allocations.growth({"alloc_peak_bytes": 13_517}, base, "base") != []
    assert allocations.exceeds(1.06, 12_288, 0.05) is False
    assert allocations.exceeds(1.06, 100_000, 0.05) is True


def _run_with_allocations() -> Run:
    stamp = {"machine_class": "x86_64-2cpu-pg18", "doctors": 1000, "git_commit": "abc1234"}
    head, base = Run(dict(stamp)), Run(dict(stamp, git_commit="def5678"))
    samples = [1.0 + (i % 7) / 100 for i in range(400)]
    for name, head_peak in (("message_path_claude0ms", 110_000), ("cache_x_hit", 100_500)):
        for run, peak in ((head, head_peak), (base, 100_000)):
            counters = {
                "alloc_peak_bytes": peak,
                "alloc_net_bytes": 0,
                "alloc_net_blocks": 0,
                "alloc_calls": 30,
            }
            run.add(Bench(name, "g", None, samples, counters, blocks=[50] * 8))
    memory = {"samples": 8, "rss_peak_mib": 90.0, "uss_peak_mib": 70.0, "uss_growth_kib_per_1000": 12.0}
    pauses = {
        "recorded": True,
        "longest_ms": {"gen2": 41.0},
        "at_or_above_p99": 8,
        "of_them_during_a_pause": 5,
    }
    for run in (head, base):
        run.add(
            Bench(
                "webhook_steady", "w", None, samples, {"memory": memory, "gc_pauses": pauses}, blocks=[50] * 8
            )
        )
    head.base = base
    return head


def test_the_gate_fails_a_peak_10_percent_above_the_bases_and_the_report_says_so_beside_time() -> None:
    run = _run_with_allocations()
    budgets = Budgets({n: Budget(ceiling_ms=100) for n in run.benches})
    verdicts = {v.name: v for v in judge(run, budgets, None)}
    assert [f.message for f in verdicts["message_path_claude0ms"].findings if f.check == "allocations"] == [
        "alloc_peak_bytes 100,000 => 110,000 (1.10x the base's, above 1.05x and 1,024 bytes more)"
    ]
    assert verdicts["message_path_claude0ms"].status == "FAIL"
    assert verdicts["cache_x_hit"].status != "FAIL"
    rows = {r[0]: r for r in memory_report.allocation_rows(run, list(verdicts.values()))}
    assert rows["message_path_claude0ms"][2:6] == ["FAIL", "107.4", "97.7", "1.100x"]
    assert rows["cache_x_hit"][2] == "ok"
    [server] = memory_report.server_rows(run, list(verdicts.values()))
    assert server[2:] == ["90.0", "70.0", "+12", "gen2 41 ms", "5 of 8"]
    html = "".join(memory_report.section(run, list(verdicts.values()), html_table))
    assert "Memory beside time" in html
    assert "<td>1.100x</td>" in html


async def test_allocations_only_warms_up_then_traces_and_records_no_samples() -> None:
    """`--allocations-only` (the allocation gate's calibration): the warm-up runs untimed and untraced,
    then the traced calls, each between its before and after; the benchmark has counters, no samples."""
    calls: list[str] = []

    async def step(kind: str, i: int) -> None:
        calls.append(f"{kind}{i}")

    perf = Perf(Run({}), Servers("postgresql://x", "redis://x", "url", "url"), "postgresql://x", 1, 1, None)
    bench = Bench("message_path_claude0ms", "message_path", "floor_pg_select1", [], {"doctors": 1})
    await perf.allocations_alone(
        bench,
        lambda i: step("call", i),
        2,
        warmup=1,
        before=lambda i: step("before", i),
        after=lambda i: step("after", i),
    )
    assert calls == ["before0", "call0", "after0", "before0", "call0", "after0", "before1", "call1", "after1"]
    recorded = perf.run.benches["message_path_claude0ms"]
    assert recorded.samples_ms == []
    assert recorded.counters["doctors"] == 1
    assert recorded.counters["alloc_calls"] == 2


def test_until_calibrated_an_allocation_peak_above_the_bases_is_a_warning() -> None:
    """`[gate] allocations_fail = false`: the same finding, advisory, and the report says "warn"."""
    run = _run_with_allocations()
    budgets = Budgets({n: Budget(ceiling_ms=100) for n in run.benches}, allocations_fail=False)
    verdicts = {v.name: v for v in judge(run, budgets, None)}
    [finding] = [f for f in verdicts["message_path_claude0ms"].findings if f.check == "allocations"]
    assert finding.severity == "warn"
    assert finding.message.endswith("(advisory: [gate] allocations_fail = false)")
    assert verdicts["message_path_claude0ms"].status != "FAIL"
    rows = {r[0]: r for r in memory_report.allocation_rows(run, list(verdicts.values()))}
    assert rows["message_path_claude0ms"][2] == "warn"
