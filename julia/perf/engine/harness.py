"""The timer: raw samples of an async call on the running event loop.

Our own loop over `time.perf_counter_ns` rather than pytest-benchmark's: its timer calls a sync function,
so an async call would need a `run_until_complete` per round (impossible inside pytest-asyncio's running
loop, and ~100 us of overhead that would swamp a 70 us query). We keep every sample; percentiles and
the regression test are computed from them later (julia.perf.engine.stats).

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
from functools import partial
from typing import Any, Protocol

import asyncpg

from julia.perf.engine import stats
from julia.perf.engine.extra import Medians
from julia.perf.engine.results import Bench

COLD_SETTLE_S = 0.01
BLOCK = (
    50  # samples per turn (julia.perf.engine.turns); for paired calls, the pairs whose floors make one local
)
# floor: a few ms, shorter than the machine's moods, and the unit an A/B verdict pairs with the base's


Step = Callable[[int], Awaitable[object]]


class Turns(Protocol):
    """A side's end of the turn protocol (julia.perf.engine.turns.Turnos)."""

    async def switch(self, label: str) -> int:
        """Hand the turn back, wait for the next, and get its round."""
        ...

    async def more(self, label: str, medians: Medians) -> int | None:
        """After the fixed blocks: the round of one more block, or None."""
        ...


class Alone:
    """A run without a coordinator: every turn is this side's, no block pairs with another's, and no
    verdict asks for more."""

    async def switch(self, label: str) -> int:
        return -1

    async def more(self, label: str, medians: Medians) -> int | None:
        return None


async def _warm_up(
    call: Step, warmup: int, before: Step | None, after: Step | None, floor: Step | None = None
) -> int:
    """`warmup` untimed rounds (the floor first, when paired), then a clean heap; returns the next `i`."""
    for i in range(warmup):
        if floor:
            await floor(i)
        if before:
            await before(i)
        await call(i)
        if after:
            await after(i)
    gc.collect()  # start clean, so one benchmark does not pay for the previous one's garbage
    return warmup


@dataclass(frozen=True)
class Measured:
    samples_ms: list[float]
    blocks: list[int]  # the lengths of the turns the samples were taken in
    rounds: list[int]  # and the round of each (a pair is the same benchmark in the same round)


class _Blocks(Protocol):
    """What measure and measure_paired record per block (Measured, Paired)."""

    @property
    def samples_ms(self) -> list[float]: ...
    @property
    def blocks(self) -> list[int]: ...
    @property
    def rounds(self) -> list[int]: ...


async def _next_block(turns: Turns, label: str, out: _Blocks, samples: int, block: int) -> int:
    """The size of the next block, its turn taken and its round recorded; 0 when done. First the fixed
    `samples`, then one `block` more each time the coordinator finds the verdict undecided."""
    if len(out.samples_ms) < samples:
        out.rounds.append(await turns.switch(label))
        return min(block, samples - len(out.samples_ms))
    blocks = stats.split_blocks(out.samples_ms, out.blocks)
    medians = [(r, statistics.median(b)) for r, b in zip(out.rounds, blocks, strict=True) if b]
    extra = await turns.more(label, medians)
    if extra is None:
        return 0
    out.rounds.append(extra)
    return block


async def measure(
    call: Step,
    *,
    samples: int,
    warmup: int,
    before: Step | None = None,
    after: Step | None = None,
    turns: Turns | None = None,
    label: str = "",
    slowdown: float = 1.0,
    block: int = BLOCK,
) -> Measured:
    """Run `call(i)` `warmup` times untimed, then `samples` timed times (ms) in blocks of BLOCK, each block
    in a turn of its own. `i` lets the caller rotate parameters; `before(i)`/`after(i)` run untimed
    around each call (open a connection, begin and roll back a transaction). The count is fixed, not a
    deadline, so both sides of an A/B run measure the same blocks in lockstep; then blocks of `block`
    more while the coordinator finds the verdict undecided (julia.perf.engine.extra)."""
    out = Measured([], [], [])
    warm_up = partial(_warm_up, call, warmup, before, after)
    measure_block = partial(_block, call, before, after, slowdown, out)
    await _in_blocks(turns or Alone(), label, out, samples, block, warm_up, measure_block)
    return out


@dataclass(frozen=True)
class Paired:
    samples_ms: list[float]
    floor_ms: list[float]
    ratios: list[float]  # each sample over the median floor of its block
    blocks: list[int]
    rounds: list[int]

    def bench(
        self,
        name: str,
        group: str,
        floor: str,
        counters: dict[str, Any],
        profile: dict[str, Any] | None = None,
    ) -> Bench:
        """The benchmark these samples make, each with its ratio to the floor measured beside it."""
        ratios, blocks, rounds = self.ratios, self.blocks, self.rounds
        return Bench(name, group, floor, self.samples_ms, counters, ratios, blocks, rounds, profile)


async def measure_paired(
    call: Step,
    floor: Step,
    *,
    samples: int,
    warmup: int,
    before: Step | None = None,
    after: Step | None = None,
    turns: Turns | None = None,
    label: str = "",
    slowdown: float = 1.0,
    block: int = BLOCK,
) -> Paired:
    """Like `measure`, each timed `call(i)` preceded by a timed `floor(i)` (before/after stay untimed)."""
    out = Paired([], [], [], [], [])
    warm_up = partial(_warm_up, call, warmup, before, after, floor)
    measure_block = partial(_paired_block, call, floor, before, after, slowdown, out)
    await _in_blocks(turns or Alone(), label, out, samples, block, warm_up, measure_block)
    return out


async def _in_blocks(
    turns: Turns,
    label: str,
    out: _Blocks,
    samples: int,
    block: int,
    warm_up: Callable[[], Awaitable[int]],
    measure_block: Callable[[int, int], Awaitable[int]],
) -> None:
    """The loop `measure` and `measure_paired` share: a turn per block, the warm-up before the first, and
    each block's length recorded. `measure_block(i, size)` takes the block's samples from `i` on and
    returns the next `i`; the timed code lives there alone, so this loop adds nothing inside it."""
    i = 0
    while size := await _next_block(turns, label, out, samples, block):
        if i == 0:
            i = await warm_up()
        i = await measure_block(i, size)
        out.blocks.append(size)


# The two block bodies below hold the timed code. Every name they read inside a timed block is a local
# (a parameter or `clock`), as it was when each loop lived in its own function: the fold moved the loop
# around them, not a lookup into them.
async def _block(
    call: Step, before: Step | None, after: Step | None, slowdown: float, out: Measured, i: int, size: int
) -> int:
    clock = time.perf_counter_ns
    for _ in range(size):
        if before:
            await before(i)
        start = clock()
        await call(i)
        end = _slowed(start, clock(), slowdown)
        if after:
            await after(i)
        out.samples_ms.append((end - start) / 1e6)
        i += 1
    return i


async def _paired_block(
    call: Step,
    floor: Step,
    before: Step | None,
    after: Step | None,
    slowdown: float,
    out: Paired,
    i: int,
    size: int,
) -> int:
    clock = time.perf_counter_ns
    timed: list[float] = []
    floors: list[float] = []
    for _ in range(size):
        start = clock()
        await floor(i)
        floors.append((clock() - start) / 1e6)
        if before:
            await before(i)
        start = clock()
        await call(i)
        timed.append((_slowed(start, clock(), slowdown) - start) / 1e6)
        if after:
            await after(i)
        i += 1
    local = statistics.median(floors)
    out.samples_ms.extend(timed)
    out.floor_ms.extend(floors)
    out.ratios.extend(s / local for s in timed)
    return i


def _slowed(start: int, end: int, slowdown: float) -> int:
    """Calibration (`--inject-slowdown`): CPU work on this side's event loop until the call has taken
    `slowdown` times as long, as if julia's code around it had grown. A no-op at 1.0."""
    if slowdown <= 1.0:
        return end
    target = end + int((end - start) * (slowdown - 1.0))
    now = time.perf_counter_ns()
    while now < target:
        now = time.perf_counter_ns()
    return now


async def cold_sample(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
    call: Callable[[asyncpg.Connection, int], Awaitable[object]],
    i: int,
    *,
    in_transaction: bool = False,
    slowdown: float = 1.0,
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
        elapsed = (_slowed(start, time.perf_counter_ns(), slowdown) - start) / 1e6
        if in_transaction:
            await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    return elapsed
