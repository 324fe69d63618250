"""CPU profiles of one unit of work (a query call, a cache read, a message), head against base: the
functions that gained or lost CPU time, or calls, per unit.

Each side profiles its own units in its own process, inside its own turn and after its timed blocks, so
no timed block ever runs under the profiler (julia.perf.engine.turns: the other side waits meanwhile).
The units are split into CHUNKS chunks, each profiled apart: eight replicate measurements per side, which
give every function's change an interval rather than a single difference.

Why cProfile on the thread's CPU clock, and not a sampling profiler:
- An in-process sampler on wall time (pyinstrument) charges the event loop's idle wait to whatever frame
  runs next: profiling 200 units of "2,000 additions, then `await asyncio.sleep(0.5 ms)`" on uvloop, it
  gave the additions 70-105 ms where they cost 9 ms of CPU (its async mode included). A unit here is
  mostly waiting for Postgres or Redis, so that error would be most of every profile.
- On the CPU clock (`time.thread_time_ns`, a public cProfile option) waiting costs nothing and only the
  Python work is charged: the same units gave the additions 17 ms (the profiler's own per-call cost lands
  on the profiled functions, equally on both sides) and `asyncio.sleep` its real, tiny CPU.
- cProfile counts every call, and every resumption of a coroutine (an `await asyncio.sleep` is two
  entries into `sleep`): calls per unit are deterministic, so "+1 call per message to X, from Y" is
  an exact finding, the kind of evidence this suite gates on (statements, round trips), and the way a
  sleep or an extra await that costs no CPU still names the function that makes it.
- It is the standard library (nothing to install, nothing to go stale), costs nothing while disabled,
  and sees coroutines: each resumption is a call. What it cannot give is whole stacks (only caller and
  callee pairs), so the report's chart is of functions, not a flame graph of stacks.
py-spy samples from outside, but it needs ptrace and a core of its own beside the measured process; the
standard library's own sampling profiler arrives with Python 3.15.

Judged: a function is named only when all eight chunks of one side lie beyond all eight of the other
(the Mann-Whitney extreme, p = 2/12,870 for two sides of eight) in its share of the unit's CPU (shares
do not move when the machine slows both sides' CPU alike), and the change is material: at least
MATERIAL of the base's CPU per unit as it runs unprofiled (the profiled CPU over PROFILER_COST: every
call pays the profiler, so 5% of the profiled CPU of a message was 1 ms, twice the 0.45 ms a loop added
to its reply that the timing caught at 1.09x) and MIN_US. Calls are named when every chunk of one side
differs from every chunk of the other by at least half a call per unit, and each side's own chunks agree
(within STEADY: a count that wanders from chunk to chunk follows I/O, not code). Nothing else is said: an A/A
profile has hundreds of functions and, compared without such a bar, always has a few that moved by chance.
"""

from __future__ import annotations

import cProfile
import dataclasses
import inspect
import statistics
import sysconfig
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Step = Callable[[int], Awaitable[object]]

CHUNKS = 8
BUDGET_S = 0.4  # wall time a side spends profiling one benchmark, the profiler's own cost included
PROFILER_COST = 3.0  # how much slower a unit runs under cProfile on the CPU clock (measured: 2-4x)
UNITS = (5, 200)  # units per chunk, at least and at most
KEEP = 80  # functions kept per benchmark (the most CPU), beside every function of the checkout itself
MATERIAL = 0.05  # a CPU change is named from 5% of the base's CPU per unit (unprofiled) ...
MIN_US = 5.0  # ... and 5 us
MIN_CALLS = 0.5  # a calls change: half a call per unit (a call every other unit)
# ... whose count is steady on each side: its chunks within this many calls per unit of each other. A call
# code makes is made alike in every chunk (the sleep injection's asyncio.sleep, once a message); one that
# follows I/O readiness is not (an A/A cache miss: asyncio Future.set_result 6.44-6.94 per call on one side
# and 5.00-5.28 on the other, the futures its reads happened to wait on).
STEADY = 0.1
RESUMABLE = (
    inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
)

Stats = dict[str, tuple[int, float, float]]  # function -> (calls, self s, total s) over one chunk
Edges = dict[tuple[str, str], int]  # (caller, callee) -> calls over one chunk


async def profile(
    call: Step,
    *,
    start: int,
    unit_ms: float,
    root: Path,
    sources: Sequence[str],
    before: Step | None = None,
    after: Step | None = None,
) -> dict[str, Any]:
    """Profile `call(start)`, `call(start + 1)`, ... in CHUNKS chunks (about BUDGET_S in all, from the
    median time of a unit, `unit_ms`); `before`/`after` run around each unit unprofiled; `sources`: the
    folders of the checkout's own code (perf.toml's [project] sources), kept whatever their share.
    JSON-ready."""
    per_chunk = int(BUDGET_S * 1000 / (CHUNKS * max(unit_ms, 0.001) * PROFILER_COST))
    per_chunk = min(max(per_chunk, UNITS[0]), UNITS[1])
    i = start
    chunks: list[tuple[Stats, Edges]] = []
    resumable: set[str] = set()
    for _ in range(CHUNKS):
        profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
        for _ in range(per_chunk):
            if before:
                await before(i)
            profiler.enable()
            try:
                await call(i)
            finally:
                profiler.disable()
            if after:
                await after(i)
            i += 1
        chunks.append(_read(profiler, _namer(root)))
        resumable |= _resumable(profiler, _namer(root))
    return compact(chunks, per_chunk, sources, resumable)


def _namer(root: Path) -> Callable[[object], str]:
    """A function's name as both sides spell it: `path:qualname`, the path relative to the checkout, to
    site-packages or to the standard library (head and base live in different folders and venvs)."""
    checkout = str(root.resolve()) + "/"
    stdlib = sysconfig.get_paths()["stdlib"] + "/"

    def name(code: object) -> str:
        if isinstance(code, str):  # a builtin: "<built-in method time.sleep>", "<method 'x' of 'y' objects>"
            return code
        filename: str = getattr(code, "co_filename", "?")
        qualname: str = getattr(code, "co_qualname", getattr(code, "co_name", "?"))
        if "site-packages/" in filename:  # first: a side's virtualenv may sit inside its checkout (.nox/)
            return f"{filename.rsplit('site-packages/', 1)[1]}:{qualname}"
        if filename.startswith(checkout):
            return f"{filename.removeprefix(checkout)}:{qualname}"
        if filename.startswith(stdlib):
            return f"{filename.removeprefix(stdlib)}:{qualname}"
        return f"{Path(filename).name}:{qualname}"

    return name


def _read(profiler: cProfile.Profile, name: Callable[[object], str]) -> tuple[Stats, Edges]:
    stats: Stats = {}
    edges: Edges = {}
    for entry in profiler.getstats():
        if "_lsprof.Profiler" in str(entry.code):  # its own enable/disable
            continue
        key = name(entry.code)
        calls, own, total = stats.get(key, (0, 0.0, 0.0))
        stats[key] = (calls + entry.callcount, own + entry.inlinetime, total + entry.totaltime)
        for sub in entry.calls or ():
            edge = (key, name(sub.code))
            edges[edge] = edges.get(edge, 0) + sub.callcount
    return stats, edges


def _resumable(profiler: cProfile.Profile, name: Callable[[object], str]) -> set[str]:
    """The coroutines and generators the profile saw: cProfile counts each resumption as a call."""
    return {
        name(entry.code)
        for entry in profiler.getstats()
        if getattr(entry.code, "co_flags", 0) & RESUMABLE and "_lsprof.Profiler" not in str(entry.code)
    }


def compact(
    chunks: list[tuple[Stats, Edges]], units: int, sources: Sequence[str], resumable: Collection[str] = ()
) -> dict[str, Any]:
    """Per unit, per chunk: each kept function's calls, self and total CPU (us), its three busiest
    callers, and the unit's whole CPU; `sources`, recorded with them, says which functions are the
    checkout's own. Every other function seen keeps its calls (`others`): without them, one the other side
    kept and this one did not would read as never called here."""
    cpu = [sum(s[1] for s in stats.values()) * 1e6 / units for stats, _ in chunks]
    busiest: dict[str, float] = {}
    for stats, _ in chunks:
        for key, (_, own, _) in stats.items():
            busiest[key] = max(busiest.get(key, 0.0), own)
    ranked = sorted(busiest, key=lambda k: -busiest[k])
    kept = set(ranked[:KEEP]) | {k for k in busiest if not _foreign(k, sources)}
    functions: dict[str, dict[str, Any]] = {}
    for key in sorted(kept):
        rows = [stats.get(key, (0, 0.0, 0.0)) for stats, _ in chunks]
        callers: dict[str, int] = {}
        for _, edges in chunks:
            for (caller, callee), n in edges.items():
                if callee == key:
                    callers[caller] = callers.get(caller, 0) + n
        top = sorted(callers.items(), key=lambda kv: -kv[1])[:3]
        functions[key] = {
            "calls": [round(r[0] / units, 3) for r in rows],
            "self_us": [round(r[1] * 1e6 / units, 3) for r in rows],
            "total_us": [round(r[2] * 1e6 / units, 3) for r in rows],
            "callers": {c: round(n / (units * len(chunks)), 3) for c, n in top},
        }
    others = {
        key: [round(stats.get(key, (0, 0.0, 0.0))[0] / units, 3) for stats, _ in chunks]
        for key in sorted(set(busiest) - kept)
    }
    cpu_us = [round(c, 3) for c in cpu]
    return {
        "units": units,
        "chunks": len(chunks),
        "cpu_us": cpu_us,
        "functions": functions,
        "others": others,
        "resumable": sorted(set(resumable) & set(busiest)),
        "sources": list(sources),
    }


def _foreign(key: str, sources: Sequence[str]) -> bool:
    """Not the checkout's own code (`sources`: its folders): a library, the standard library, a builtin."""
    return key.startswith("<") or not key.split(":", 1)[0].startswith(tuple(sources))


@dataclass(frozen=True)
class Change:
    """One function that moved between the sides, per unit of work."""

    function: str
    kind: Literal["cpu", "calls"]
    base: float  # median per unit: us of self CPU, or calls
    head: float
    low: float  # the change's interval (head - base): every pair of chunks lies within it
    high: float
    caller: str | None  # who calls it on the side where it is called more
    # A side whose profile did not keep the function (under its KEEP busiest): its figure is that side's
    # cut, an upper bound, so the change is at least what is said.
    unseen: Literal["head", "base"] | None = None
    # The CPU per unit (us) the change accounts for, head - base: a CPU change's own shift, a calls
    # change's shift in the function's inclusive time (its callees' too); the causes rank by its size.
    effect: float = 0.0

    @property
    def delta(self) -> float:
        return self.head - self.base

    def gained(self, unit: str = "unit") -> str:
        """The function and the CPU it gained, short: "redis/x.py:f (+0.142 ms CPU per call)"."""
        return f"{self.function} ({_ms(self.effect, True)} CPU per {unit})"

    def line(self, unit: str = "unit") -> str:
        where = f" (called from {self.caller})" if self.caller else ""
        sign = "+" if self.delta > 0 else "-"
        if self.kind == "calls":
            return f"{sign}{_num(abs(self.delta))} calls/resumptions per {unit} of {self.function}{where}"
        at_least = "at least " if self.unseen else ""
        base = ("<= " if self.unseen == "base" else "") + _ms(self.base)
        head = ("<= " if self.unseen == "head" else "") + _ms(self.head)
        return (
            f"{sign}{at_least}{_ms(abs(self.delta))} CPU per {unit} in {self.function}{where} (self time, "
            f"{base} -> {head}; every chunk pair {_ms(self.low, True)}..{_ms(self.high, True)})"
        )


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _ms(us: float, signed: bool = False) -> str:
    text = f"{us / 1000:.3f} ms" if abs(us) >= 100 else f"{us:.1f} us"
    return ("+" if signed and us > 0 else "") + text


def compare(head: Mapping[str, Any], base: Mapping[str, Any]) -> list[Change]:
    """The functions that moved, the largest CPU gains first, then the call changes (the checkout's own
    code first). Empty when nothing stands out (see the module docstring for the bar). A library function
    one side did not keep (not among its KEEP busiest) ran there with less CPU than any it kept: its CPU
    is taken at that cut, so a CPU change is said only when it clears the bar even so, and its calls are
    its `others` entry (unknown in a profile recorded before them: no calls change is said then)."""
    base_cpu = statistics.median(base["cpu_us"])
    cpu: list[Change] = []
    calls: list[Change] = []
    for key in sorted(set(head["functions"]) | set(base["functions"])):
        h, h_calls, h_cpu = _figures(head, key)
        b, b_calls, b_cpu = _figures(base, key)
        h_share = [s / c for s, c in zip(h["self_us"], head["cpu_us"], strict=True) if c]
        b_share = [s / c for s, c in zip(b["self_us"], base["cpu_us"], strict=True) if c]
        low, high = _bounds(h["self_us"], b["self_us"])
        shift = statistics.median(h["self_us"]) - statistics.median(b["self_us"])
        if (
            _separated(h_share, b_share)
            and _separated(h["self_us"], b["self_us"])
            and abs(shift) >= max(MATERIAL * base_cpu / PROFILER_COST, MIN_US)
        ):
            change = _change(key, "cpu", h["self_us"], b["self_us"], low, high, h, b)
            own = not _foreign(key, head.get("sources", ()))  # its own name says where it is
            unseen: Literal["head", "base"] | None = None if h_cpu and b_cpu else "base" if h_cpu else "head"
            cpu.append(dataclasses.replace(change, caller=None if own else change.caller, unseen=unseen))
        c_low, c_high = _bounds(h["calls"], b["calls"])
        if (
            h_calls
            and b_calls
            and min(abs(c_low), abs(c_high)) >= MIN_CALLS
            and c_low * c_high > 0
            and max(h["calls"]) - min(h["calls"]) <= STEADY
            and max(b["calls"]) - min(b["calls"]) <= STEADY
            and not _waits(key, head, base, h, b)
        ):
            calls.append(_change(key, "calls", h["calls"], b["calls"], c_low, c_high, h, b))
    cpu.sort(key=lambda c: -c.delta)
    own = head.get("sources", ())  # a profile recorded before it said so: nothing ranks as own code
    # Where new work starts first: a call whose caller's own calls did not change (new code called from
    # old), before the calls that new code makes in turn (a helper added after a cache read made 41 more
    # calls to its generator expression and 40 to json.dumps; the one call into it is what says where).
    moved = {c.function for c in calls}
    calls.sort(
        key=lambda c: (
            c.caller in moved,
            _foreign(c.function, own) and _foreign(c.caller or "<", own),
            -abs(c.delta),
        )
    )
    return cpu + calls


def _waits(
    key: str, head: Mapping[str, Any], base: Mapping[str, Any], h: Mapping[str, Any], b: Mapping[str, Any]
) -> bool:
    """A coroutine's calls that count its waits, not work: cProfile counts each resumption, and how often
    a coroutine resumes is how often its I/O was not ready yet, which moves with the machine (an untouched
    cache hit's read resumed twice per unit on one side, once on the other; a library's
    StreamReader._wait_for_data ran 1.76 times per read on one side, never on the other, its data already
    there). So one that ran on both sides, or a library's called by a library, is not a calls change; one
    of the checkout's own, or called from it, on one side only is (the sleep injection's asyncio.sleep)."""
    if key not in {*head.get("resumable", ()), *base.get("resumable", ())}:
        return False
    if min(statistics.median(h["calls"]), statistics.median(b["calls"])) > 0:
        return True
    sources = head.get("sources", ())
    callers = {**b.get("callers", {}), **h.get("callers", {})}
    return _foreign(key, sources) and all(_foreign(c, sources) for c in callers)


def _figures(side: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], bool, bool]:
    """A function's figures on one side, whether its calls are known, and whether its CPU is. One the
    side did not keep never ran there when the side saw no such function (`others`), kept every function
    it saw, or the function is the checkout's own (always kept); else it ran below the side's cut, with
    the calls `others` recorded, and CPU at most the least any library function the side kept reached."""
    found = side["functions"].get(key)
    if found is not None:
        return found, True, True
    chunks = int(side["chunks"])
    sources = side.get("sources", ())
    others: Mapping[str, list[float]] | None = side.get("others")
    never = {"calls": [0.0] * chunks, "self_us": [0.0] * chunks, "callers": {}}
    if (
        not _foreign(key, sources)
        or len(side["functions"]) < KEEP
        or (others is not None and key not in others)
    ):
        return never, True, True
    cut = min((max(f["self_us"]) for k, f in side["functions"].items() if _foreign(k, sources)), default=0.0)
    below = {"calls": others[key] if others is not None else never["calls"], "self_us": [cut] * chunks}
    return below | {"callers": {}}, others is not None, False


def _change(
    key: str,
    kind: Literal["cpu", "calls"],
    head: list[float],
    base: list[float],
    low: float,
    high: float,
    h: Mapping[str, Any],
    b: Mapping[str, Any],
) -> Change:
    more = h if statistics.median(head) >= statistics.median(base) else b
    callers: dict[str, float] = more.get("callers", {})
    caller = max(callers, key=lambda c: callers[c]) if callers else None
    now, then = (head, base) if kind == "cpu" else (h.get("total_us", [0.0]), b.get("total_us", [0.0]))
    effect = statistics.median(now) - statistics.median(then)
    return Change(
        key, kind, statistics.median(base), statistics.median(head), low, high, caller, effect=effect
    )


def _separated(a: list[float], b: list[float]) -> bool:
    return bool(a) and bool(b) and (min(a) > max(b) or max(a) < min(b))


def _bounds(head: list[float], base: list[float]) -> tuple[float, float]:
    """The smallest and largest head-minus-base difference over every pair of chunks."""
    return min(head) - max(base), max(head) - min(base)


@dataclass(frozen=True)
class Row:
    """One function of the report's table: medians per unit on each side, and the change's bounds."""

    function: str
    base_us: float
    head_us: float
    low: float
    high: float
    base_calls: float
    head_calls: float
    named: bool  # compare() named it: it cleared the bar


def rows(head: Mapping[str, Any], base: Mapping[str, Any], top: int = 12) -> list[Row]:
    """The functions with the most self CPU on either side, and every one compare() named, largest
    change first: what the report shows beside the cause lines, so a reader sees the bar's context."""
    named = {c.function for c in compare(head, base)}
    empty: dict[str, Any] = {"calls": [0.0], "self_us": [0.0]}
    out = []
    for key in set(head["functions"]) | set(base["functions"]):
        h, b = head["functions"].get(key, empty), base["functions"].get(key, empty)
        low, high = _bounds(h["self_us"], b["self_us"])
        medians = [statistics.median(x) for x in (b["self_us"], h["self_us"], b["calls"], h["calls"])]
        out.append(Row(key, medians[0], medians[1], low, high, medians[2], medians[3], key in named))
    out.sort(key=lambda r: -max(r.base_us, r.head_us))
    shown = out[:top] + [r for r in out[top:] if r.named]
    return sorted(shown, key=lambda r: -abs(r.head_us - r.base_us))


def svg(table: list[Row], width: int = 640) -> str:
    """A differential chart of `table`: one bar per function, its self CPU change per unit (head - base),
    red for a gain and green for a loss, a whisker over every chunk pair's difference; bold when named.
    Drawn by hand: a few rectangles need no plotting library, and it stays text in the HTML."""
    bar, label, pad = 18, 300, 8
    span = max([abs(r.low) for r in table] + [abs(r.high) for r in table] + [1e-9])
    half = (width - label - 2 * pad) / 2
    zero = label + pad + half
    height = pad * 2 + bar * len(table)

    def x(us: float) -> float:
        return zero + us / span * half

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        "role='img' aria-label='self CPU change per unit, head against base'>",
        f"<line x1='{zero:.1f}' y1='0' x2='{zero:.1f}' y2='{height}' stroke='#000' stroke-width='0.6'/>",
    ]
    for i, r in enumerate(table):
        y = pad + i * bar
        delta = r.head_us - r.base_us
        color = "#d62728" if delta > 0 else "#2ca02c"
        left, right = sorted((x(0.0), x(delta)))
        weight = "bold" if r.named else "normal"
        name = r.function if len(r.function) <= 46 else "..." + r.function[-43:]
        parts += [
            f"<text x='{label:.0f}' y='{y + bar * 0.7:.1f}' font-size='11' text-anchor='end' "
            f"font-family='monospace' font-weight='{weight}'>{_xml(name)}</text>",
            f"<rect x='{left:.1f}' y='{y + 3}' width='{max(right - left, 0.5):.1f}' height='{bar - 6}' "
            f"fill='{color}'><title>{_xml(r.function)}: {_ms(delta, True)}</title></rect>",
            f"<line x1='{x(r.low):.1f}' y1='{y + bar / 2:.1f}' x2='{x(r.high):.1f}' y2='{y + bar / 2:.1f}' "
            "stroke='#333' stroke-width='1'/>",
        ]
    return "".join(parts) + "</svg>"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
