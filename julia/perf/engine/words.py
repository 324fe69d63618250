"""The gate's verdicts in plain words, shared by the HTML report, the Markdown summary and the terminal:
the counts, the A/B context of the run, why each benchmark got its status, and where its time went.

Nothing here judges: julia.perf.engine.gate does. This module only says what the verdicts already hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from julia.perf.engine import stats
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Bench, Run, project_of, scale_of

# The order a reader needs them in: what broke, what could not be told, what to look at, what is fine.
ORDER = {"FAIL": 0, "inconclusive": 1, "warn": 2, "ok": 3}
SERVER_MOVED = 1.10  # a server-time ratio beyond this (either way) counts as the database's work moving


@dataclass(frozen=True)
class Counts:
    failed: int
    inconclusive: int
    warned: int
    ok: int
    # ok only against the slowdown they must catch: their interval still reaches above the threshold
    ok_must_catch_only: int = 0

    @property
    def passed(self) -> bool:
        return self.failed == 0

    def text(self) -> str:
        parts = [f"{self.failed} failed", f"{self.inconclusive} inconclusive"]
        if self.warned:
            parts.append(f"{self.warned} warned")
        wide = self.ok_must_catch_only
        of_them = f" ({wide} of them ruling out only the slowdown they must catch)" if wide else ""
        return " / ".join([*parts, f"{self.ok} ok{of_them}"])


def counts(verdicts: list[Verdict]) -> Counts:
    statuses = [v.status for v in verdicts]
    wide = sum(v.ok_only_against_must_catch for v in verdicts)
    return Counts(
        statuses.count("FAIL"),
        statuses.count("inconclusive"),
        statuses.count("warn"),
        statuses.count("ok"),
        wide,
    )


def ordered(verdicts: list[Verdict]) -> list[Verdict]:
    return sorted(verdicts, key=lambda v: (ORDER.get(v.status, 9), v.name))


def failed_or_inconclusive(verdicts: list[Verdict]) -> list[Verdict]:
    """The rows a Markdown verdict lists, in the reader's order."""
    return [v for v in ordered(verdicts) if v.status in ("FAIL", "inconclusive")]


def markdown_context(run: Run, uncalibrated: str) -> list[str]:
    """The lines under a Markdown verdict's title (summary.md, comment.md): the uncalibrated warning in
    bold when there is one, then what the run was compared against, its scale, machine and injection."""
    stamp = run.stamp
    injected = f"; **injected regression: {stamp['injected']}**" if stamp.get("injected") else ""
    return [
        *([f"**{uncalibrated}**", ""] if uncalibrated else []),
        f"{ab_context(run)}; {scale(stamp)} on {stamp.get('machine_class')}{injected}",
        "",
    ]


def short(commit: Any) -> str:
    return str(commit)[:10] if commit else "unknown"


def ab_context(run: Run) -> str:
    """What the timing was compared against, in one sentence."""
    ab = run.stamp.get("ab") or {}
    why = ab.get("why")
    if run.base is None:
        if not why:
            return "no base: this run measured the head alone"
        return why if why.startswith("no base") else f"no base ({why})"
    head = short(run.stamp.get("git_commit"))
    base = short(ab.get("base_commit") or run.base.stamp.get("git_commit"))
    text = f"head {head} vs base {base}, measured side by side in this run"
    return f"{text} ({why})" if why else text


def fmt_x(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded" if value > 0 else "0"
    # Three decimals: an interval's bound of 1.104 must not read as the threshold 1.10 it exceeds.
    return f"{value:.3f}x" if value < 10 else f"{value:.1f}x"


def interval(ab: stats.ABComparison) -> str:
    if not (math.isfinite(ab.low) and math.isfinite(ab.high)) or ab.low <= 0:
        return "unbounded"
    return f"{fmt_x(ab.low)}-{fmt_x(ab.high)}"


def power(ab: stats.ABComparison) -> str:
    """This run's power in words: the slowdown it catches half the time, and 4 times in 5."""
    return f"catches {fmt_x(ab.detectable)} half the time, {fmt_x(ab.detectable_80)} 4 times in 5"


def reason(v: Verdict) -> str:
    """Why this benchmark has its status, in a few words."""
    fails = [f for f in v.findings if f.severity == "fail"]
    if fails:
        return "; ".join(f"{f.check}: {f.message}" for f in fails)
    ab = v.ab
    warns = [
        f"{f.check}: {f.message}" for f in v.findings if f.severity == "warn" and f.check != "inconclusive"
    ]
    if ab is not None and ab.outcome == "inconclusive":
        if ab.pairs < stats.MIN_PAIRS:
            what = "one block per side" if ab.pairs == 1 else f"{ab.pairs} block pairs"
            return f"{what}: too few for a timing verdict ({stats.MIN_PAIRS} needed)"
        return f"interval {interval(ab)} straddles {ab.threshold:g}x; this run {power(ab)}"
    if warns:
        return "; ".join(warns)
    if ab is not None and ab.outcome == "ok" and ab.below_threshold:
        return f"interval below {ab.threshold:.2f}x (at most {fmt_x(ab.high)})"
    if ab is not None and ab.outcome == "ok":
        return (
            f"interval {interval(ab)} below {ab.must_catch or ab.threshold:g}x, the slowdown it must "
            f"catch; it straddles {ab.threshold:g}x, so a smaller one is not ruled out; this run {power(ab)}"
        )
    if ab is not None and ab.outcome == "unpaired":
        return "budgets held; no block measured on both sides for a timing verdict"
    if v.base_summary is not None:
        return "budgets held; not measured in turns, so no timing verdict"
    return "budgets held; no base in this run for a timing verdict"


def server_ms(bench: Bench | None) -> float | None:
    pgss = bench.counters.get("pgss") if bench else None
    value = pgss.get("mean_exec_ms") if isinstance(pgss, dict) else None
    return float(value) if value is not None else None


def blame(v: Verdict, head: Bench | None, base: Bench | None) -> str:
    """Where the time moved: inside the database (its own execution time, pg_stat_statements) or around
    it. Said only from what both sides measured: a round trip that grew while the server's time grew too
    is the database's work, whatever plan and buffers say."""
    now, then = server_ms(head), server_ms(base)
    round_trip = f"round trip {fmt_x(v.ab.ratio)} the base's" if v.ab and math.isfinite(v.ab.ratio) else ""
    if now is None or then is None or then <= 0:
        missing = "no server time recorded for this benchmark (pg_stat_statements)"
        return f"{round_trip}; {missing}" if round_trip else missing
    ratio = now / then
    server = f"server execution {then:.4f} => {now:.4f} ms ({fmt_x(ratio)})"
    if abs(math.log(ratio)) > math.log(SERVER_MOVED):
        where = "the database's own work moved"
    elif v.ab and math.isfinite(v.ab.ratio) and v.ab.ratio > SERVER_MOVED:
        where = (
            "the server's time held: the time went outside the database (the code, the driver, the machine)"
        )
    else:
        where = "the server's time held"
    return "; ".join(p for p in (round_trip, server, where) if p)


def scale(stamp: dict[str, Any]) -> str:
    """The run's scale in words, as its project counts it ("1,000 doctors"); empty when it did not say."""
    axis, value = scale_of(stamp)
    return f"{value:,} {axis}" if isinstance(value, int) else ""


def title(stamp: dict[str, Any]) -> str:
    """What the gate's verdict is called in the run's project ("julia perf gate")."""
    return f"{project_of(stamp)['command']} gate"


def stamp_rows(stamp: dict[str, Any]) -> list[tuple[str, str]]:
    """The stamp as (label, words): no Python reprs, the seed and the A/B base spelled out."""
    name = project_of(stamp)["name"]
    labels = {
        "project": "project",
        "git_commit": "commit",
        "machine_class": "machine class",
        f"{name}_version": name,
        "deps_hash": "dependencies (hash)",
        "python": "python",
        "postgres": "postgres",
        "servers": "servers",
        "injected": "injected regression",
        "started_at": "started at",
        "seed": "seed",
        "ab": "A/B base",
    }
    rows = []
    for key, value in stamp.items():
        if key == "project" and isinstance(value, dict):
            value = value.get("name")
        rows.append((labels.get(key, key.replace("_", " ")), _stamp_value(key, value, scale_of(stamp)[0])))
    return sorted(rows)


def _stamp_value(key: str, value: Any, axis: str) -> str:
    if key == "injected" and not value:
        return "none"
    if key == axis and isinstance(value, int):
        return f"{value:,}"
    if key == "seed" and isinstance(value, dict):
        rows = ", ".join(f"{table} {count:,}" for table, count in (value.get("rows") or {}).items())
        head = f"seed {value.get('seed')}, day {value.get('today')}"
        checksum = str(value.get("checksum") or "")[:12]
        return f"{head}, checksum {checksum}" + (f": {rows}" if rows else "")
    if key == "ab" and isinstance(value, dict):
        ref = value.get("base_ref")
        parts = [
            f"base {short(value.get('base_commit'))}" if value.get("base_commit") else "no base",
            f"asked for {ref}" if ref else "",
            str(value.get("why") or ""),
            f"{value['seconds']:.0f} s for both sides" if value.get("seconds") is not None else "",
            str(value.get("setup") or ""),
        ]
        return "; ".join(p for p in parts if p)
    return words(value)


def words(value: Any) -> str:
    """Any stamp or counter value as a reader would write it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " > ".join(map(words, value))
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {words(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
