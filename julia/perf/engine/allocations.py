"""What one call allocates, counted in untimed replicas with tracemalloc: the most it held at once above
what was live when it began (`alloc_peak_bytes`), and what it left behind once the cyclic collector ran
(`alloc_net_bytes`, `alloc_net_blocks`). A head that keeps a copy of a message's context raises the
first; one that keeps it for good raises both.

Why tracemalloc: it is the interpreter's own hook on its allocators, in the stdlib, installed by
tracemalloc.start() and removed by stop(), so the timed blocks, which run with it stopped, pay nothing
(a traced call runs two to three times slower, which is why only replicas are traced). It counts what
Python code allocates, which is what a julia change moves. memray would also see native allocations
(asyncpg's and hiredis's buffers, reused or not from call to call) and records every allocation to a
file to be read back: made for finding where memory goes, far heavier per call, and noisier for a gate.
tracemalloc gives no running total of bytes allocated, only live and peak: so the peak, which a
transient copy moves, and the net, which a leak moves.

The calls run one at a time on the caller's event loop; whatever else that loop runs meanwhile (a pool's
housekeeping) is counted too, so a benchmark is summarised by the median over many calls, and compared
with the base's within ALLOWED_GROWTH (a failure, or a warning while `[gate] allocations_fail` is false).
"""

from __future__ import annotations

import gc
import statistics
import sys
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

# How far a head's median peak may exceed the base's before the gate reports it: both more than
# ALLOWED_GROWTH above it and more than GROWTH_FLOOR_BYTES. Measured (2-core x86_64, embedded servers,
# 2026-12-07; docs/performance.md, "The allocation gate's calibration", `python
# perf/allocations_accuracy.py`, perf/calibration/allocations/): in 7 A/A same-run runs the message path
# stayed within 0.998-1.004x and the queries and the queue claim at 1.000x, and a copy of the message's
# context kept until Claude answers, 10.6% (about 11 KiB) more bytes, was 1.104-1.108x in all 6 injected
# runs. The cache reads, 8-14 KiB a call, moved up to 1.057x: their peak is reached while asyncio's
# stream reader holds Redis's or Postgres's reply, and how large that buffer has grown depends on how the
# bytes arrived, in one read or several, over the process's life (sys.setprofile on the traced calls
# found the peak in asyncio/streams.py in 40 of 40 calls). Nine processes of `pytest
# perf/test_cache.py --allocations-only` on unchanged code put a read's median peak in a band 151-644
# bytes wide (a shifts miss 12,199-12,843, 1.053x; a static-context miss 13,692-14,167), in steps of a
# few hundred bytes, and the calibration's widest A/A pair was that miss's 1.057x, about 700 bytes: I/O's
# buffers, not julia's code. A relative tolerance cannot hold those at 8 KiB without going blind at 110
# KiB, so the floor is in bytes, above the widest band measured: the cache reads' smallest increase
# caught is 1 KiB (7-12% of their peak), the message path's 5%. A hit served from Postgres because the
# cache fell open is not judged at all (perf/test_cache.py).
# Calibrated with both rules, 20 A/A and 20 injected rounds (6822d74, load about 1): no A/A run reported
# a peak (the cache reads 0.992-1.015x, the message path 0.994-1.007x), the context's copy 20 of 20.
ALLOWED_GROWTH = 0.05
GROWTH_FLOOR_BYTES = 1024
KEYS = ("alloc_peak_bytes", "alloc_net_bytes", "alloc_net_blocks")


@dataclass(frozen=True)
class Allocation:
    peak_bytes: int
    net_bytes: int
    net_blocks: int


async def measure(
    call: Callable[[int], Awaitable[object]],
    calls: int,
    before: Callable[[int], Awaitable[object]] | None = None,
    after: Callable[[int], Awaitable[object]] | None = None,
) -> list[Allocation]:
    """Run `call(0)` ... `call(calls - 1)` traced, one at a time, each after `before(i)` and followed by
    `after(i)` (neither counted: a cache entry expired, a transaction rolled back, say); what each
    allocated. Tracing stops on the way out, whatever happens."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    # Everything alive now out of the collector's reach while the replicas run: each call's collections
    # then scan only what the calls allocated, not the whole benchmark process (tens of ms each). A
    # process that froze its own heap already keeps it frozen.
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.collect()
        gc.freeze()
    try:
        out = []
        for i in range(calls):
            if before is not None:
                await before(i)
            gc.collect()
            blocks, (live, _) = sys.getallocatedblocks(), tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            await call(i)
            _, peak = tracemalloc.get_traced_memory()
            gc.collect()
            left = tracemalloc.get_traced_memory()[0]
            out.append(Allocation(peak - live, left - live, sys.getallocatedblocks() - blocks))
            if after is not None:
                await after(i)
        return out
    finally:
        if freezing:
            gc.unfreeze()
        if not was_tracing:
            tracemalloc.stop()


def typical(allocations: Sequence[Allocation]) -> dict[str, Any]:
    """The median of each over the calls, and the peak's range: the counters a benchmark records."""
    if not allocations:
        return {}
    peaks = [a.peak_bytes for a in allocations]
    return {
        "alloc_peak_bytes": round(statistics.median(peaks)),
        "alloc_peak_bytes_range": [min(peaks), max(peaks)],
        "alloc_net_bytes": round(statistics.median(a.net_bytes for a in allocations)),
        "alloc_net_blocks": round(statistics.median(a.net_blocks for a in allocations)),
        "alloc_calls": len(allocations),
    }


def growth(now: dict[str, Any], before: dict[str, Any], against: str) -> list[str]:
    """Why `now`'s allocations fail against `before`'s (the base's in the same run): the median peak
    more than ALLOWED_GROWTH above it. The net is shown, not judged here: a few hundred bytes left in a
    cache by one call in thirty moves its median between zero and that; the soak judges growth."""
    key = "alloc_peak_bytes"
    if now.get(key) is None or before.get(key) is None or before[key] <= 0:
        return []
    ratio = now[key] / before[key]
    if not exceeds(ratio, before[key], ALLOWED_GROWTH):
        return []
    return [
        f"{key} {before[key]:,} => {now[key]:,} ({ratio:.2f}x the {against}'s, above "
        f"{1 + ALLOWED_GROWTH:.2f}x and {GROWTH_FLOOR_BYTES:,} bytes more)"
    ]


def exceeds(ratio: float, base_bytes: float, tolerance: float) -> bool:
    """Whether a head/base ratio of peaks is a growth the gate reports: above the relative tolerance and
    by more than GROWTH_FLOOR_BYTES (the band I/O buffers alone move a peak in). The calibration
    (perf/allocations_accuracy.py) counts its false failures and catches with this same rule."""
    return ratio > 1 + tolerance and base_bytes * (ratio - 1) > GROWTH_FLOOR_BYTES
