"""The timer: raw samples of an async call on the running event loop.

Our own loop over `time.perf_counter_ns` rather than pytest-benchmark's: its timer calls a sync function,
so an async call would need a `run_until_complete` per round (impossible inside pytest-asyncio's running
loop, and ~100 us of overhead that would swamp a 70 us query). We keep every sample; percentiles and
the regression test are computed from them later (julia.perf.stats).

On a shared 2-core machine the pace changes for tens of milliseconds at a time (a neighbour's burst, the
client and the server landing on one core): `measure_paired` alternates each call with its floor and
divides by the floor measured in the same few milliseconds, which is what makes ratios comparable.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

MIN_SAMPLES = 20
COLD_SETTLE_S = 0.01
PAIR_BLOCK = 50  # pairs whose floors make one local floor: a few ms, shorter than the machine's moods


Step = Callable[[int], Awaitable[object]]


async def measure(
    call: Step,
    *,
    samples: int,
    warmup: int,
    max_seconds: float,
    before: Step | None = None,
    after: Step | None = None,
) -> list[float]:
    """Run `call(i)` `warmup` times untimed, then up to `samples` timed times (ms), stopping early at
    `max_seconds` once MIN_SAMPLES are in. `i` lets the caller rotate parameters; `before(i)`/`after(i)`
    run untimed around each call (open a connection, begin and roll back a transaction)."""
    for i in range(warmup):
        if before:
            await before(i)
        await call(i)
        if after:
            await after(i)
    gc.collect()  # start clean, so one benchmark does not pay for the previous one's garbage
    out: list[float] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(max_seconds * 1e9)
    for i in range(warmup, warmup + samples):
        if before:
            await before(i)
        start = clock()
        await call(i)
        end = clock()
        if after:
            await after(i)
        out.append((end - start) / 1e6)
        if end > deadline and len(out) >= MIN_SAMPLES:
            break
    return out


@dataclass(frozen=True)
class Paired:
    samples_ms: list[float]
    floor_ms: list[float]
    ratios: list[float]  # each sample over the median floor of its block


async def measure_paired(
    call: Step,
    floor: Step,
    *,
    samples: int,
    warmup: int,
    max_seconds: float,
    before: Step | None = None,
    after: Step | None = None,
) -> Paired:
    """Like `measure`, each timed `call(i)` preceded by a timed `floor(i)` (before/after stay untimed)."""
    for i in range(warmup):
        await floor(i)
        if before:
            await before(i)
        await call(i)
        if after:
            await after(i)
    gc.collect()
    clock = time.perf_counter_ns
    deadline = clock() + int(max_seconds * 1e9)
    out = Paired([], [], [])
    i = warmup
    while len(out.samples_ms) < samples:
        block: list[float] = []
        floors: list[float] = []
        for _ in range(min(PAIR_BLOCK, samples - len(out.samples_ms))):
            start = clock()
            await floor(i)
            floors.append((clock() - start) / 1e6)
            if before:
                await before(i)
            start = clock()
            await call(i)
            block.append((clock() - start) / 1e6)
            if after:
                await after(i)
            i += 1
        local = statistics.median(floors)
        out.samples_ms.extend(block)
        out.floor_ms.extend(floors)
        out.ratios.extend(s / local for s in block)
        if clock() > deadline and len(out.samples_ms) >= MIN_SAMPLES:
            break
    return out


async def cold_sample(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
    call: Callable[[asyncpg.Connection, int], Awaitable[object]],
    i: int,
    *,
    in_transaction: bool = False,
) -> float:
    """One first execution on a fresh connection (julia's pool opening one, or after a restart): parse,
    plan and the new backend's catalog caches are all paid inside the timed call. Connecting is not."""
    conn = await connect()
    try:
        # Let the previous backend finish exiting and the new one settle: on 2 cores their work would
        # otherwise land inside whichever call is timed next.
        await asyncio.sleep(COLD_SETTLE_S)
        if in_transaction:
            await conn.execute("BEGIN")
        start = time.perf_counter_ns()
        await call(conn, i)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if in_transaction:
            await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    return elapsed
