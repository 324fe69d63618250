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

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

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
