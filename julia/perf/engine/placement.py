"""Which CPUs the perf run's processes use.

Left to the scheduler, each side's process settles into a placement of its own relative to the servers
(on its Postgres backend's core, or on the other one) and keeps it for the whole run, which biases one
side against the other by a fixed amount that no number of block pairs averages out. In A/A runs of the
cache benchmarks on the project's 2-core machine (load 3-4, `perf/test_floors.py` and
`perf/test_cache.py`, 3 runs against 4), unpinned sides differed by up to 30% with intervals excluding
1.0 in 5 of 21 comparisons (a Redis GET at 0.863 [0.758-0.946]); with both sides on one CPU, 3 of 28,
none beyond 4%. Only one side runs at a time (turns), so sharing that CPU costs neither side anything.

A server the suite starts (the webhook benchmarks' uvicorn) is not a client: it gets back every CPU the
run had, as in production, where it does not share a core with its load.
"""

from __future__ import annotations

import os

SERVER_CPUS_ENV = "JULIA_PERF_SERVER_CPUS"


def client_cpu() -> int | None:
    """The one CPU both sides run on: the last this process may use; None with only one (nothing to pin)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-1] if len(allowed) > 1 else None


def server_cpus_env() -> dict[str, str]:
    """What a side's environment carries so that the servers it starts can be given every CPU back."""
    return {SERVER_CPUS_ENV: ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))}


def pin(pid: int, cpu: int) -> None:
    """Pin a process that has just been started: set on its only thread, so every thread and child it
    starts later inherits the CPU."""
    os.sched_setaffinity(pid, {cpu})


def release(pid: int) -> None:
    """Give a server started inside a pinned side every CPU the run had (a no-op outside a pinned run)."""
    cpus = os.environ.get(SERVER_CPUS_ENV)
    if cpus:
        os.sched_setaffinity(pid, {int(c) for c in cpus.split(",")})
