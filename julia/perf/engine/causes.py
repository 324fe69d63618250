"""Why a verdict moved: for each benchmark that failed, was inconclusive or warned (and any asked for by
name), the candidate causes found in what both sides recorded, ranked, and the first as one line.

Each kind of evidence has a producer: a function from a `Subject` (the benchmark's verdict, its head and
base results, the whole run) to `Evidence` records, each with a weight. PRODUCERS lists them; another kind
is one more function appended to that tuple. Weights rank by how directly the evidence says what the code
did, not by size: a plan that lost its index, then statements added or removed per unit, then calls,
Redis commands, rows and blocks that moved, then what changed under the code (the dependencies), then
the functions whose calls or CPU per unit moved (the sides' profiles), then the server's own time, which
is measured and so noisy. Deterministic
evidence only ever comes from counters that do not depend on the machine; the server time needs a large
move (SERVER_TIME) before it is said. When nothing stands out, the line says so: "no attributable change".
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from julia.perf.engine import deps, diff, profile, words
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Bench, Run

EXPLAINED = ("FAIL", "inconclusive", "warn")
NOTHING = "no attributable change"
# A server-time ratio beyond this (either way) is named as a cause: well past SERVER_MOVED, since a
# neighbour's burst moves the mean execution time of a fast query by 10-20% on this shared machine.
SERVER_TIME = 1.3
# ... and only when the time it moved, over the calls a unit makes, is this share of the base's median
# unit: a 0.01 ms statement 1.4x slower is not why a 0.5 ms cache miss moved.
SERVER_SHARE = 0.05


@dataclass(frozen=True)
class Evidence:
    kind: str  # plan, statements, redis, dependencies, server_time (and whatever a new producer adds)
    weight: float  # the rank: higher first
    line: str  # the cause in one line, as the summary, the terminal and the banner show it
    deterministic: bool = True  # read from counters that do not depend on the machine


@dataclass(frozen=True)
class Subject:
    """What a producer looks at: one benchmark's verdict, its results on both sides, and the run (for
    evidence that lives elsewhere: another benchmark's plan, the stamp's dependencies)."""

    verdict: Verdict
    head: Bench | None
    base: Bench | None
    run: Run


@dataclass(frozen=True)
class Cause:
    """One benchmark's ranked candidates; `line` is the most likely, or NOTHING."""

    name: str
    status: str
    candidates: list[Evidence] = field(default_factory=list)

    @property
    def line(self) -> str:
        return self.candidates[0].line if self.candidates else NOTHING


Producer = Callable[[Subject], Iterable[Evidence]]


def plan_evidence(subject: Subject) -> Iterable[Evidence]:
    """This benchmark's own plan that moved; for a unit of work (a message, a cache read), the plan of a
    critical query it runs, found by the queryid the head's statements share with that query's EXPLAIN."""
    if subject.head is None or subject.base is None:
        return
    server = _server_moved(subject.head, subject.base)
    moved = diff.plan(subject.head.counters, subject.base.counters)
    if moved is not None:
        yield _plan_line(moved, "", server)
    generic = diff.plan(diff.generic(subject.head.counters), diff.generic(subject.base.counters))
    if generic is not None:
        # The plan the timed calls ran weighs as much as the custom one; otherwise a little less.
        ran = diff.ran_generic(subject.head.counters)
        evidence = _plan_line(
            generic, " (generic plan, the one the timed calls ran)" if ran else " (generic plan)", server
        )
        yield Evidence(evidence.kind, evidence.weight - (0 if ran else 10), evidence.line)
    by_id = {s.get("query_id"): s for s in subject.head.counters.get("pg_by_statement") or []}
    if subject.run.base is None or not by_id:
        return
    for name, bench in subject.run.benches.items():
        query_id = bench.counters.get("query_id")
        other = subject.run.base.benches.get(name)
        if name == subject.verdict.name or other is None or query_id is None or query_id not in by_id:
            continue
        linked = diff.plan(bench.counters, other.counters)
        if linked is not None:
            evidence = _plan_line(linked, f" in {_where(by_id[query_id])}", _server_moved(bench, other))
            yield Evidence(evidence.kind, evidence.weight - 5, evidence.line)


def _plan_line(moved: diff.PlanDiff, where: str, server: str) -> Evidence:
    """The plan change in one line: the nodes the base had and the head has not, and the other way round
    (an index scan lost: "Index Scan using idx on t -> Seq Scan on t"; work put on top of a plan that kept
    its nodes: "added Result, Aggregate, Function Scan (4000 rows)"), else the first node that differs; and
    `server`, the statement's server time when it moved too."""
    first = moved.first
    if moved.shape_changed and first is not None:
        line = f"plan changed{where}: {_nodes_changed(moved) or _first_changed(first)}{server}"
        return Evidence("plan", 100, line)
    head, base = moved.buffers
    at = f", first at {diff.describe(first.head)}" if first is not None else ""
    return Evidence("plan", 65, f"plan buffers {base} -> {head}{where} (same plan{at}){server}")


def _first_changed(first: diff.PlanRow) -> str:
    return f"{diff.describe(first.base)} -> {diff.describe(first.head)}"


def _nodes_changed(moved: diff.PlanDiff) -> str:
    """The nodes one side has and the other has not, or "" when both have the same ones (rearranged)."""
    heads = Counter(diff.describe(r.head) for r in moved.rows if r.head is not None)
    bases = Counter(diff.describe(r.base) for r in moved.rows if r.base is not None)
    added, removed = list((heads - bases).elements()), list((bases - heads).elements())
    if added and removed:
        return f"{', '.join(removed)} -> {', '.join(added)}"
    if removed:
        return f"removed {', '.join(removed)}"
    if not added:
        return ""
    rows = {
        diff.describe(r.head): float(r.head.get("rows_actual") or 0) for r in moved.rows if r.head is not None
    }
    return "added " + ", ".join(
        node + (f" ({rows[node]:.0f} rows)" if rows[node] > 1 else "") for node in added
    )


def _where(statement: dict[str, Any]) -> str:
    """A statement as the evidence names it: julia's file and query, else its text."""
    return str(statement.get("source") or f"`{diff.brief(str(statement['query']), 60)}`")


def statement_evidence(subject: Subject) -> Iterable[Evidence]:
    if subject.head is None or subject.base is None:
        return
    for s in diff.statements(subject.head.counters, subject.base.counters) or []:
        text = f"`{diff.brief(s.query)}`" + (f" ({s.source})" if s.source else "")
        unit = _unit(subject.head)
        if s.change == "added":
            yield Evidence(
                "statements", 95, f"+{diff.per_unit(s.delta('calls'))} statement per {unit}: {text}"
            )
        elif s.change == "removed":
            yield Evidence(
                "statements", 90, f"{diff.per_unit(s.delta('calls'))} statement per {unit}: {text}"
            )
        else:
            moved = ", ".join(
                f"{figure} {diff.per_unit((s.base or {})[figure])} -> {diff.per_unit((s.head or {})[figure])}"
                for figure in s.moved
            )
            weight = 85 if "calls" in s.moved else 70
            yield Evidence("statements", weight, f"{moved} per {unit}: {text}")


def redis_evidence(subject: Subject) -> Iterable[Evidence]:
    if subject.head is None or subject.base is None:
        return
    for c in diff.commands(subject.head.counters, subject.base.counters) or []:
        sign = "+" if c.head > c.base else ""
        line = (
            f"{sign}{c.head - c.base} Redis {c.name.upper()} per {_unit(subject.head)} ({c.base} -> {c.head})"
        )
        yield Evidence("redis", 80, line)


def dependency_evidence(subject: Subject) -> Iterable[Evidence]:
    """The dependencies that changed, when this benchmark ran their code: its profile on either side
    names a function of one of them. Without a profile it cannot be told, and the line says so; with one
    that shows none of them, they are not a candidate (a run against a base without apache-otava, which
    only `julia perf changes` imports, named "apache-otava added" as the likely cause of 16 benchmarks)."""
    changes = (subject.run.stamp.get("ab") or {}).get("dependencies")
    if not changes:
        return
    line = f"dependencies changed: {deps.summary(changes)}"
    sides = [b.profile for b in (subject.head, subject.base) if b is not None and b.profile]
    if not sides:
        yield Evidence("dependencies", 50, f"{line} (whether this benchmark runs them: no profile to tell)")
    elif deps.ran(changes, (key for side in sides for key in side.get("functions", {}))):
        yield Evidence("dependencies", 50, line + _gains(subject))


def _gains(subject: Subject) -> str:
    """Where a dependency change shows: the functions that gained the most CPU per unit, head against
    base (a head without hiredis: redis-py's pure-Python parser)."""
    if subject.head is None or subject.base is None or not subject.head.profile or not subject.base.profile:
        return ""
    changes = profile.compare(subject.head.profile, subject.base.profile)
    first: dict[str, profile.Change] = {}  # a function whose calls and CPU both moved: its larger figure
    for change in sorted((c for c in changes if c.effect > 0), key=lambda c: -c.effect):
        first.setdefault(change.function, change)
    gained = list(first.values())[: PROFILE_LINES - 1]
    unit = _unit(subject.head)
    return f"; the functions that gained: {', '.join(c.gained(unit) for c in gained)}" if gained else ""


def server_time_evidence(subject: Subject) -> Iterable[Evidence]:
    """The server's own time of this benchmark's statement (a query's benchmark), named from any unit of
    work in the run that sends it; and for a unit of work, of each statement it sends whose own benchmark
    ran in this run (linked by queryid, as the plans are): a busy-wait in a query's SQL slows the cache
    miss and the message that run it, whose own counters have no server time."""
    if subject.head is None or subject.base is None:
        return
    query_id = subject.head.counters.get("query_id")
    statement = _statement(subject.run, query_id) if query_id is not None else None
    of = f" of {_where(statement)}" if statement is not None else ""
    unit_ms = statistics.median(subject.base.samples_ms) if subject.base.samples_ms else 0.0
    moved = _server_ratio(subject.head, subject.base, unit_ms, verdict=subject.verdict)
    if moved is not None:
        yield Evidence(
            "server_time", 40, f"server time{of} {moved}: the database's own work", deterministic=False
        )
    if subject.run.base is None:
        return
    for row in subject.head.counters.get("pg_by_statement") or []:
        if float(row.get("calls") or 0) < diff.MIN_CALLS or row.get("query_id") is None:
            continue
        for name, bench in subject.run.benches.items():
            other = subject.run.base.benches.get(name)
            if (
                name == subject.verdict.name
                or other is None
                or bench.counters.get("query_id") != row["query_id"]
            ):
                continue
            linked = _server_ratio(bench, other, unit_ms, float(row["calls"]), subject.verdict)
            if linked is not None:
                line = (
                    f"server time of {_where(row)} {linked} (its benchmark {name}): the database's own work"
                )
                yield Evidence("server_time", 38, line, deterministic=False)


def _server_ratio(
    head: Bench | None,
    base: Bench | None,
    unit_ms: float = 0.0,
    calls: float = 1.0,
    verdict: Verdict | None = None,
) -> str | None:
    """The statement's mean server time, head against base ("34.9x the base's (0.0083 -> 0.2895 ms)"),
    when it moved beyond SERVER_TIME either way and, `calls` times a unit, by SERVER_SHARE of the base's
    unit (`unit_ms`, its median), and, given the `verdict` it would explain, that benchmark's own time
    moved the same way (_timing_agrees: in an A/A run a writing query's server time read 0.504x,
    0.1565 -> 0.0788 ms, with nothing changed); else None."""
    now, then = words.server_ms(head), words.server_ms(base)
    if now is None or then is None or now <= 0 or then <= 0:
        return None
    ratio = now / then
    if abs(math.log(ratio)) <= math.log(SERVER_TIME) or abs(now - then) * calls < SERVER_SHARE * unit_ms:
        return None
    if verdict is not None and not _timing_agrees(verdict, (now - then) * calls, unit_ms):
        return None
    return f"{words.fmt_x(ratio)} the base's ({then:.4f} -> {now:.4f} ms)"


def _server_moved(head: Bench | None, base: Bench | None) -> str:
    """The server time beside a plan change, when it moved too: what says the database pays for it."""
    ratio = _server_ratio(head, base)
    return f"; server time {ratio}: the database's own work" if ratio else ""


def _statement(run: Run, query_id: object) -> dict[str, Any] | None:
    """A statement with this queryid as a unit of work in the run recorded it (with its julia name)."""
    for bench in run.benches.values():
        for row in bench.counters.get("pg_by_statement") or []:
            if row.get("query_id") == query_id:
                return dict(row)
    return None


PROFILE_LINES = 3  # of each kind: a profile diff names a few functions, never the whole call tree


def profile_evidence(subject: Subject) -> Iterable[Evidence]:
    """The functions whose CPU or calls per unit moved, from both sides' profiles (julia.perf.engine.profile,
    which sets the bar a function must clear). Ranked under the dependencies: when a package changed, it
    is the cause and these functions are where it shows. Among themselves by the CPU each accounts for
    (a call change first on a tie): calls are exact, but a unit that found a cache entry expired on one
    side makes 20 more calls there for 0.1 ms, while a loop added to the reply cost 0.47 ms.

    A CPU change is said only where the benchmark's own timed blocks moved the same way and by as much
    (_timing_agrees: its same-run interval wholly above 1 for a gain, below for a loss, its far bound leaving
    room for the change): the profile explains a timing change, it does not find one. In an A/A run a cache
    hit's interval read 1.014-1.032 (at most 3.4 us of its 108 us) while its profile gave asyncio's
    StreamWriter.writelines +14.1 us (4.7 us unprofiled): the head profiled in a busier turn (its whole unit's
    profiled CPU 23% above the base's). Each side profiles in its own turn, and a library function that does
    the I/O carries the socket's system calls in its self time, so a machine busier in one side's turn reads
    as that side's CPU: re-judging the 19 A/A runs of 2026-12-07 (perf/calibration/causes/), every profile CPU
    line left was such a function (asyncpg's Connection._do_execute, asyncio's StreamWriter.writelines), on a
    benchmark whose interval held 1 or that has no timing verdict (a writing query). Calls changes are counts,
    machine-independent, and are said whatever the timing did."""
    if subject.head is None or subject.base is None or not subject.head.profile or not subject.base.profile:
        return
    unit = _unit(subject.head)
    unit_ms = statistics.median(subject.base.samples_ms) if subject.base.samples_ms else 0.0
    changes = profile.compare(subject.head.profile, subject.base.profile)
    # The profiled CPU is inflated by the profiler's own cost (PROFILER_COST): the change as it runs
    # unprofiled is the most the timing can be asked to hold.
    cpu = [
        c
        for c in changes
        if c.kind == "cpu"
        and _timing_agrees(subject.verdict, c.delta / 1000 / profile.PROFILER_COST, unit_ms)
    ][:PROFILE_LINES]
    calls = [c for c in changes if c.kind == "calls"][:PROFILE_LINES]
    for change in sorted([*calls, *cpu], key=lambda c: -abs(c.effect)):
        yield Evidence("profile", 47, change.line(unit), deterministic=change.kind == "calls")


def _timing_agrees(verdict: Verdict, change_ms: float, unit_ms: float) -> bool:
    """Whether the benchmark's own time moved the way a measured change of `change_ms` per unit would move
    it, and by as much: the same-run interval wholly above 1 for a gain (below for a loss), and its far
    bound leaving room for the change, over the base's median unit (`unit_ms`): a function cannot have
    gained more than the whole unit did. Measured evidence (a profile's CPU, the server's time) explains a
    timing change; it does not find one. A benchmark with no same-run interval (timing = false, unpaired)
    has only its budgets: such evidence is said when they failed or warned, never for one asked with
    `--explain` whose budgets held."""
    ab = verdict.ab
    if ab is None or not (math.isfinite(ab.low) and math.isfinite(ab.high)):
        return verdict.status in ("FAIL", "warn")
    if change_ms > 0:
        return ab.low > 1 and change_ms <= (ab.high - 1) * unit_ms
    return ab.high < 1 and -change_ms <= (1 - ab.low) * unit_ms


def _unit(bench: Bench) -> str:
    """What one counted unit is, as the benchmark said (julia.perf.engine.counting.typical)."""
    return str(bench.counters.get("unit") or "unit")


def workload_evidence(subject: Subject) -> Iterable[Evidence]:
    """The cause a workload that runs the head alone gives for itself (`cause` among its counters): the
    capacity storm has no same-run base to diff against, so it says which stage of the reply took the
    time beyond what the third parties took, and julia's CPU and memory per reply against the floor's
    measured in the same run (julia.testing.capacity.gate.cause)."""
    line = subject.head.counters.get("cause") if subject.head is not None else None
    if line:
        yield Evidence("workload", 45, str(line), deterministic=False)


PRODUCERS: tuple[Producer, ...] = (
    plan_evidence,
    statement_evidence,
    redis_evidence,
    dependency_evidence,
    profile_evidence,
    workload_evidence,
    server_time_evidence,
)


def cause(subject: Subject) -> Cause:
    found = [e for produce in PRODUCERS for e in produce(subject)]
    found.sort(key=lambda e: -e.weight)  # stable: a producer's own order breaks ties
    return Cause(subject.verdict.name, subject.verdict.status, found)


def explain(run: Run, verdicts: Sequence[Verdict], also: Iterable[str] = ()) -> dict[str, Cause]:
    """The cause of every benchmark that failed, was inconclusive or warned, and of those named in `also`
    (`julia perf gate --explain NAME`), in the order the report lists them; and of an "ok" whose interval
    still reaches above its threshold (below only the slowdown it must catch) when a cause is found: a
    reply's added loop measured 1.078x (1.001-1.152) on the message path, ok against its 1.2x, and its
    function is still worth a line."""
    wanted = set(also)
    out: dict[str, Cause] = {}
    for v in words.ordered(list(verdicts)):
        if v.name not in run.benches:  # budgeted but not measured: nothing to explain it with
            continue
        open_below = v.ok_only_against_must_catch
        if v.status in EXPLAINED or v.name in wanted or open_below:
            base = run.base.benches.get(v.name) if run.base else None
            found = cause(Subject(v, run.benches.get(v.name), base, run))
            if found.candidates or v.status in EXPLAINED or v.name in wanted:
                out[v.name] = found
    return out
