"""The history store: <history>/<class>.jsonl (perf.toml; julia's: reports/history/), one line per gated run
on main, oldest first. Each line keeps what the same run measured and no machine can move: per benchmark
the head/base ratio with its 95% interval and outcome, both commits (head and base: with runs on main
against their parent, the ratios chain from commit to commit, julia.perf.engine.changes), the
deterministic counters, and the machine class and server topology the run had; plus the percentiles the
report's trend chart draws. Raw samples stay in the run's own artifact (results.json). Runs with an
injected regression stay out.

Written on purpose (`julia perf gate --record-history`: .ci/run and the workflow on main pass it), so a plain
`nox -s perf` leaves the checkout clean. GitHub's workflow keeps the store on a branch of its own
(perf-history, as github-action-benchmark keeps its data on gh-pages; .ci/fetch-perf-history and
.ci/publish-perf-history), so it survives a fresh clone."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run, scale_of

KEEP = 1000  # lines per class: a few years of pushes to main, a few hundred kB
VERSION = 2  # 2: ab, counters, base_commit, servers; 1 (no "version") had the percentiles only
# Counters that are identifiers or clock readings, not costs: no series of them means anything.
NOT_COSTS = ("query_id",)


def history_path(folder: Path, machine_class: str) -> Path:
    return folder / f"{machine_class}.jsonl"


def entry(run: Run, verdicts: list[Verdict]) -> dict[str, Any]:
    stamp = run.stamp
    ab = stamp.get("ab") or {}
    return {
        "version": VERSION,
        "started_at": stamp.get("started_at"),
        "git_commit": stamp.get("git_commit"),
        "base_commit": ab.get("base_commit") if run.base is not None else None,
        "base_why": ab.get("why"),
        "machine_class": stamp.get("machine_class"),
        "servers": {"origin": stamp.get("servers"), "postgres": stamp.get("postgres")},
        **dict([scale_of(stamp)]),  # julia's runs: "doctors": 1000
        "benches": {v.name: _bench(v, run) for v in verdicts if v.summary.n},
    }


def _bench(verdict: Verdict, run: Run) -> dict[str, Any]:
    ab = verdict.ab
    same_run = None
    if ab is not None and math.isfinite(ab.low) and math.isfinite(ab.high) and ab.ratio > 0:
        same_run = {
            "ratio": round(ab.ratio, 4),
            "low": round(ab.low, 4),
            "high": round(ab.high, 4),
            "threshold": ab.threshold,
            "outcome": ab.outcome,
            "pairs": ab.pairs,
        }
    bench = run.benches.get(verdict.name)
    return {
        "p50": round(verdict.summary.p50, 4),
        "p95": round(verdict.summary.p95, 4),
        "p99": round(verdict.summary.p99, 4),
        "ratio_p50": round(verdict.ratio_p50, 3) if verdict.ratio_p50 is not None else None,
        "ab": same_run,
        "counters": counters(bench.counters) if bench else {},
    }


def counters(raw: dict[str, Any]) -> dict[str, Any]:
    """The deterministic counters as series can hold them: each number, and the plan as one string."""
    kept: dict[str, Any] = {
        key: value
        for key, value in raw.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and key not in NOT_COSTS
        and not key.endswith("_ms")
    }
    if raw.get("plan_nodes"):
        kept["plan"] = " > ".join(str(node) for node in raw["plan_nodes"])
    return kept


def append(folder: Path, run: Run, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Add this run (unless injected) and return the history, oldest first."""
    path = history_path(folder, run.stamp["machine_class"])
    lines = current(folder, run, verdicts)
    if lines != load(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def current(folder: Path, run: Run, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """The stored history with this run at the end, written nowhere: a plain run leaves git clean.
    Re-judging the same run (a new budget, a re-render) does not count it twice."""
    lines = load(history_path(folder, run.stamp["machine_class"]))
    if run.stamp.get("injected") or run.stamp.get("started_at") in {line.get("started_at") for line in lines}:
        return lines
    return [*lines, entry(run, verdicts)][-KEEP:]


def load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
