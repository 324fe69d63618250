"""Memory of the processes under load, as the kernel counts it (psutil reading /proc/PID/smaps_rollup and
/proc/PID/statm), and how fast it grows with the work done.

Per process three numbers: RSS, every resident page it maps; USS, the pages that are its alone, which its
exit would free; PSS, its pages with each shared one divided among the processes sharing it. A leak grows
USS; RSS also moves with pages shared with others (the interpreter's and libraries' code, copy-on-write
pages of a parent), so it is reported, never judged. A server made of many processes (Postgres: the
postmaster and a backend per connection, sharing shared_buffers) is the sum of their PSS: each shared
page counted once, not once per backend as a sum of RSS would.

Reading smaps_rollup walks the process's page tables under its memory lock: a millisecond or so of the
reader's CPU, and a moment in which the read process cannot map memory. Callers read between timed
blocks (the webhook load) or once a second beside an open-loop storm whose CPU they report.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

MIB = 1024 * 1024


@dataclass(frozen=True)
class Reading:
    rss: int
    uss: int
    pss: int


def read(pid: int) -> Reading | None:
    """`pid`'s memory now; None when it is gone or not ours to read."""
    try:
        full = psutil.Process(pid).memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return Reading(full.rss, full.uss, full.pss)


def children(pid: int) -> list[int]:
    """`pid`'s descendants (uvicorn's worker processes under `julia serve --workers N`), by pid."""
    try:
        return sorted(c.pid for c in psutil.Process(pid).children(recursive=True))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def tree_pss(pid: int) -> int | None:
    """The PSS of `pid` and all its descendants: a multi-process server's memory, shared pages once."""
    readings = [read(p) for p in [pid, *children(pid)]]
    found = [r.pss for r in readings if r is not None]
    return sum(found) if found else None


def growth_per_1000(points: Sequence[tuple[float, float]]) -> float | None:
    """Bytes per 1,000 units of work: the least-squares slope of (units done, bytes) over the later half
    of the units (the first half holds the warm-up: pools filling, caches loading, first-time code
    paths); None with fewer than three points there or no spread in units."""
    if not points:
        return None
    last = max(u for u, _ in points)
    later = [(u, b) for u, b in points if u >= last / 2]
    if len(later) < 3 or len({u for u, _ in later}) < 2:
        return None
    slope, _ = statistics.linear_regression([u for u, _ in later], [b for _, b in later])
    return 1000 * slope


def profile(points: Sequence[tuple[float, Reading]]) -> dict[str, float | int | None]:
    """One process over a run, from (units done, reading) samples: peak RSS and USS (MiB), the USS at the
    first and last sample, and its growth per 1,000 units (KiB; growth_per_1000)."""
    if not points:
        return {"samples": 0}
    growth = growth_per_1000([(u, r.uss) for u, r in points])
    return {
        "samples": len(points),
        "rss_peak_mib": round(max(r.rss for _, r in points) / MIB, 1),
        "uss_peak_mib": round(max(r.uss for _, r in points) / MIB, 1),
        "uss_first_mib": round(points[0][1].uss / MIB, 1),
        "uss_last_mib": round(points[-1][1].uss / MIB, 1),
        "uss_growth_kib_per_1000": None if growth is None else round(growth / 1024, 1),
    }


def over_budget(profiles: dict[str, dict[str, float | int | None]], budget_kib: float) -> list[str]:
    """Which processes grew faster than `budget_kib` per 1,000 units, each said in one line; a process
    whose growth could not be measured is said too (a soak that cannot see growth must not pass)."""
    out = []
    for name, p in profiles.items():
        growth = p.get("uss_growth_kib_per_1000")
        if growth is None:
            out.append(f"{name}: USS growth not measured ({p.get('samples', 0)} samples)")
        elif growth > budget_kib:
            out.append(
                f"{name}: USS grew {growth:.0f} KiB per 1,000 messages over the later half, "
                f"above the budget of {budget_kib:.0f} KiB (peak {p['uss_peak_mib']} MiB)"
            )
    return out


def held_per_unit(
    samples: Sequence[tuple[float, Mapping[str, int]]],
    idle: Mapping[str, int],
    starts: Sequence[float],
    ends: Sequence[float],
) -> dict[str, Any] | None:
    """Memory held per unit in flight: at each sample (when, USS of each process), the processes' USS above
    `idle` (theirs before the first unit), in KiB, over the units in flight then (started by then and not
    yet ended: `starts` and `ends` are times on the samples' clock, an end for each unit that ended); over
    the samples at which at least half the most units at once were in flight, their median (`kib`) and each
    (`samples_kib`, the spread). None when no unit was ever in flight or a sample lacks a process of `idle`.

    Why this and not bytes allocated per unit: it reads what a storm already samples (USS once a second)
    and costs the storm nothing, where tracing allocations would slow the processes being timed or need a
    run of its own; it is the memory a unit costs while the processes carry it, which is what sizes a
    process for a given concurrency; and it reads the same from any process, so a probe's processes and
    the service's compare. Why the plateau: USS is close to a high-water mark (freed objects leave their
    pages to the allocator), so once the units drain, the same bytes over fewer in flight would read as
    more per unit; at half the peak or more the bytes are those the concurrency made. What it includes,
    for every process alike: a unit's live objects, the connections a pool opened to carry that many at
    once, what first use loaded (imports, caches) after the idle reading, and pages the allocator kept."""
    if not samples or any(name not in reading for _, reading in samples for name in idle):
        return None
    first_starts, first_ends = sorted(starts), sorted(ends)
    at = [
        (
            bisect.bisect_right(first_starts, t) - bisect.bisect_right(first_ends, t),
            sum(reading[name] - idle[name] for name in idle),
            reading,
        )
        for t, reading in samples
    ]
    peak = max(n for n, _, _ in at)
    if peak < 1:
        return None
    plateau = [(n, above) for n, above, _ in at if 2 * n >= peak]
    return {
        "kib": round(statistics.median(above / n / 1024 for n, above in plateau), 1),
        "samples_kib": [round(above / n / 1024, 1) for n, above in plateau],
        "in_flight_peak": peak,
        "idle_mib": {name: round(idle[name] / MIB, 1) for name in idle},
        "peak_mib": {name: round(max(r[name] for _, _, r in at) / MIB, 1) for name in idle},
    }
