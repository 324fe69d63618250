"""Allocations per call (julia.perf.engine.allocations): what tracemalloc sees of one call, and the
gate's verdict against the base's."""

from __future__ import annotations

import asyncio
import tracemalloc

from julia.perf.engine import allocations

KEPT: list[bytes] = []


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


async def test_what_a_call_keeps_is_its_net() -> None:
    KEPT.clear()
    found = await allocations.measure(_leaks, 3)
    assert all(50_000 <= one.net_bytes < 52_000 for one in found)
    KEPT.clear()


async def test_before_each_call_is_not_counted() -> None:
    async def prepare(_: int) -> None:
        KEPT.append(b"y" * 100_000)

    KEPT.clear()
    found = await allocations.measure(_transient, 2, before=prepare)
    assert all(one.net_bytes < 2_000 for one in found)
    KEPT.clear()


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
        "alloc_peak_bytes 100,000 => 110,000 (1.10x the base's, above 1.05x)"
    ]
    assert allocations.growth({"alloc_peak_bytes": 110_000}, {}, "base") == []  # a base from before
    assert allocations.growth({}, base, "base") == []
