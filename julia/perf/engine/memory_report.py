"""The report's memory section: each benchmark that measured memory, beside its time, with the same
verdict words. Allocations per call (julia.perf.engine.allocations) are judged against the base's in the
same run (FAIL or ok; no base, no verdict); a server's memory under load and its garbage-collector
pauses (julia.perf.engine.memory, julia.gc_pauses) are shown; a load run's processes (a capacity storm's:
`processes`, `servers_mib`) are judged where the run's budget limits their growth (`GROWTH`, the soak's:
FAIL, warn or ok) and shown, "not judged", elsewhere; a load run's memory held per reply in flight
(`PER_REPLY`) is shown against its floor's with the verdict of its ratio."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run

Table = Callable[..., str]
# The counter a load run's budget limits its processes' memory growth by (julia.testing.capacity.benches).
GROWTH = "fastest_uss_growth_kib_per_1000"
# The counter a load run's memory held per reply in flight is in, its floor's too (julia.perf.engine.
# memory.held_per_unit, recorded by julia.testing.capacity.benches).
PER_REPLY = "kib_per_reply_in_flight"


def _verdict(found: Collection[str], judged: bool, otherwise: str) -> str:
    """A memory verdict in the gate's words from its findings' severities (`found`); `otherwise` when
    nothing `judged` it."""
    if "fail" in found:
        return "FAIL"
    if "warn" in found:
        return "warn"
    return "ok" if judged else otherwise


def _kib(value: Any) -> str:
    return "-" if value is None else f"{value / 1024:,.1f}"


def allocation_rows(run: Run, verdicts: Sequence[Verdict]) -> list[list[str]]:
    """benchmark, its time verdict, its allocation verdict, and head against base per call (KiB)."""
    rows = []
    for v in verdicts:
        head = run.benches.get(v.name)
        if head is None or "alloc_peak_bytes" not in head.counters:
            continue
        base_bench = run.base.benches.get(v.name) if run.base else None
        base = base_bench.counters if base_bench else {}
        found = {f.severity for f in v.findings if f.check == "allocations"}
        memory = _verdict(found, "alloc_peak_bytes" in base, "no base")
        h = head.counters
        ratio = (
            f"{h['alloc_peak_bytes'] / base['alloc_peak_bytes']:.3f}x"
            if base.get("alloc_peak_bytes")
            else "-"
        )
        rows.append(
            [
                v.name,
                v.status,
                memory,
                _kib(h["alloc_peak_bytes"]),
                _kib(base.get("alloc_peak_bytes")),
                ratio,
                _kib(h.get("alloc_net_bytes")),
                _kib(base.get("alloc_net_bytes")),
                str(h.get("alloc_net_blocks", "-")),
                str(h.get("alloc_calls", "-")),
            ]
        )
    return rows


def server_rows(run: Run, verdicts: Sequence[Verdict]) -> list[list[str]]:
    """A server under load (the webhook rounds): its USS, growth and longest pauses beside its time."""
    rows = []
    for v in verdicts:
        head = run.benches.get(v.name)
        mem = head.counters.get("memory") if head else None
        if not isinstance(mem, dict) or not mem.get("samples"):
            continue
        gc = head.counters.get("gc_pauses") or {} if head else {}
        longest = gc.get("longest_ms") or {}
        growth = mem.get("uss_growth_kib_per_1000")
        rows.append(
            [
                v.name,
                v.status,
                str(mem.get("rss_peak_mib")),
                str(mem.get("uss_peak_mib")),
                "-" if growth is None else f"{growth:+,.0f}",
                ", ".join(f"{g} {ms:g} ms" for g, ms in sorted(longest.items())) or "none of 1 ms or more",
                f"{gc['of_them_during_a_pause']} of {gc['at_or_above_p99']}" if gc.get("recorded") else "-",
            ]
        )
    return rows


def _mib(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def load_rows(run: Run, verdicts: Sequence[Verdict]) -> list[list[str]]:
    """A load run's processes: each process's memory and oldest-generation pauses, then the
    servers', beside the run's time verdict and its memory verdict."""
    rows = []
    for v in verdicts:
        head = run.benches.get(v.name)
        if head is None or "processes" not in head.counters:
            continue
        found = {f.severity for f in v.findings if f.check == "limits" and GROWTH in f.message}
        memory = _verdict(found, GROWTH in head.counters, "not judged")
        for name, p in head.counters["processes"].items():
            growth = p.get("uss_growth_kib_per_1000")
            gc = p.get("gc")
            rows.append(
                [
                    v.name,
                    name,
                    v.status,
                    memory,
                    _mib(p.get("rss_peak_mib")),
                    _mib(p.get("uss_first_mib")),
                    _mib(p.get("uss_peak_mib")),
                    "-" if growth is None else f"{growth:+,.0f}",
                    f"{gc['generation']} x{gc['n']}: p99 {gc['p99_ms']:g} ms, max {gc['max_ms']:g} ms"
                    if gc
                    else "-",
                ]
            )
        for name, s in head.counters.get("servers_mib", {}).items():
            rows.append(
                [
                    v.name,
                    f"{name} ({s['what']})",
                    v.status,
                    "not judged",
                    "-",
                    _mib(s["first"]),
                    _mib(s["peak"]),
                    "-",
                    "-",
                ]
            )
    return rows


def per_reply_rows(run: Run, verdicts: Sequence[Verdict]) -> list[list[str]]:
    """A load run's memory held per reply in flight against its floor's in the same run: the verdict of
    their ratio, both medians, the ratio, and the spread of the run's samples over the floor's median."""
    rows = []
    for v in verdicts:
        head = run.benches.get(v.name)
        floor = run.benches.get(head.floor) if head and head.floor else None
        if head is None or floor is None or PER_REPLY not in head.counters or PER_REPLY not in floor.counters:
            continue
        mine, theirs = head.counters[PER_REPLY], floor.counters[PER_REPLY]
        base = theirs["kib"]
        rows.append(
            [
                v.name,
                v.status,
                _mib(mine["kib"]),
                _mib(base),
                "-" if v.ratio_p50 is None else f"{v.ratio_p50:.2f}x",
                f"{min(mine['samples_kib']) / base:.2f}x-{max(mine['samples_kib']) / base:.2f}x "
                f"({len(mine['samples_kib'])})"
                if base > 0
                else "-",
                f"{mine['in_flight_peak']} / {theirs['in_flight_peak']}",
            ]
        )
    return rows


def section(run: Run, verdicts: Sequence[Verdict], table: Table) -> list[str]:
    allocations, servers = allocation_rows(run, verdicts), server_rows(run, verdicts)
    load, per_reply = load_rows(run, verdicts), per_reply_rows(run, verdicts)
    parts = []
    if allocations or servers or load or per_reply:
        parts.append("<h2 id='memory'>Memory beside time</h2>")
    if allocations or servers:
        parts.append(
            "<p class='info'>Allocations per call: traced with "
            "tracemalloc over untimed calls after the timed ones, the median of the calls; the peak is what "
            "one call held at once above what was live before it, the net what it left once the collector "
            "ran. A peak above the base's by more than the tolerance fails the run.</p>"
        )
    if allocations:
        parts.append(
            table(
                [
                    "benchmark",
                    "time",
                    "memory",
                    "peak KiB",
                    "base peak KiB",
                    "head/base",
                    "net KiB",
                    "base net KiB",
                    "net blocks",
                    "calls traced",
                ],
                allocations,
            )
        )
    if servers:
        parts.append(
            table(
                [
                    "benchmark",
                    "time",
                    "RSS peak MiB",
                    "USS peak MiB",
                    "USS KiB per 1,000 requests",
                    "longest GC pauses in the round",
                    "p99 requests during a pause",
                ],
                servers,
            )
        )
    if load:
        parts.append(
            "<p class='info'>Load runs' processes: each one's own pages (USS) at the first sample and at "
            "their peak, with every mapped page (RSS), and how fast USS grew per 1,000 messages over the "
            "run's later half (its first half holds the warm-up); the servers beside them (first and peak "
            "sample). A growth above the run's budget fails it (the soak's); elsewhere it is not judged.</p>"
        )
        parts.append(
            table(
                [
                    "benchmark",
                    "process",
                    "time",
                    "memory",
                    "RSS peak MiB",
                    "USS first MiB",
                    "USS peak MiB",
                    "USS KiB per 1,000 messages",
                    "oldest-generation GC pauses",
                ],
                load,
                words_columns=(1, 8),
            )
        )
    if per_reply:
        parts.append(
            "<p class='info'>Memory held per reply in flight, against the floor's measured in the same run "
            "the same way: the USS the processes hold above theirs before the first message, over the "
            "replies in flight, at each second of the run's plateau (at least half the most in flight), "
            "the median of those samples; the verdict is that of the ratio's budget.</p>"
        )
        parts.append(
            table(
                [
                    "benchmark",
                    "memory",
                    "KiB per reply in flight",
                    "floor's KiB",
                    "x floor",
                    "samples over the floor's (n)",
                    "most in flight, run / floor",
                ],
                per_reply,
            )
        )
    return parts
