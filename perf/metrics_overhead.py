"""What measuring costs: the per-call overhead of `Metrics.timed` (async and plain functions), `measure` and
`observe`, against the same function undecorated. The target is a few microseconds per measured call, which
is noise next to the cheapest measured operation (a ~100 µs Redis round trip).

A script, not a pytest benchmark: it needs no database and gates nothing; its numbers go in the
monitoring notes. Run: `.nox/tests/bin/python perf/metrics_overhead.py` (one core, no other load).
Reported per variant: the median over REPEATS runs of CALLS calls, in ns per call, minus the undecorated
baseline of the same kind.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from julia.metrics import Metrics

CALLS = 200_000
REPEATS = 7


async def _noop_async() -> None:
    return None


def _noop() -> None:
    return None


def _per_call_ns(run: Callable[[], None]) -> float:
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        run()
        runs.append((time.perf_counter_ns() - start) / CALLS)
    return statistics.median(runs)


def _sync_loop(func: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(CALLS):
            func()

    return run


def _async_loop(func: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    async def calls() -> None:
        for _ in range(CALLS):
            await func()

    return lambda: asyncio.run(calls())


def main() -> None:
    metrics = Metrics()  # private registry, default capacity (2048) and window

    def measured_block() -> None:
        with metrics.measure("bloco"):
            pass

    sync_base = _per_call_ns(_sync_loop(_noop))
    async_base = _per_call_ns(_async_loop(_noop_async))
    rows = {
        "timed async": _per_call_ns(_async_loop(metrics.timed("async")(_noop_async))) - async_base,
        "timed sync": _per_call_ns(_sync_loop(metrics.timed("sync")(_noop))) - sync_base,
        "measure (with block)": _per_call_ns(_sync_loop(measured_block)) - sync_base,
        "observe (direct)": _per_call_ns(_sync_loop(lambda: metrics.observe("direto", 0.001))) - sync_base,
    }
    print(f"baseline: plain call {sync_base:.0f} ns, awaited coroutine {async_base:.0f} ns")
    for name, overhead_ns in rows.items():
        print(f"{name:>22}: +{overhead_ns / 1000:.2f} µs per call")
    recorded, kept = metrics.summary()["async"].total, metrics.buffered_samples("async")
    print(f"(sanity: {recorded:,} async calls recorded, {kept} kept in the ring buffer)")


if __name__ == "__main__":
    main()
