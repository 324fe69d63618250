"""A small history per machine class, <history>/<class>.jsonl (perf.toml; julia's: reports/history/): one
line per gated run (percentiles and ratios only, no samples) for the report's trend chart. Runs with an
injected regression stay out. Written only on purpose (`julia perf gate --record-history`, e.g. CI on main),
so a plain `nox -s perf` leaves the checkout clean; kept in the repository so a trend survives a fresh
clone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run

KEEP = 200  # lines per class: a trend, not an archive


def history_path(folder: Path, machine_class: str) -> Path:
    return folder / f"{machine_class}.jsonl"


def entry(run: Run, verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "started_at": run.stamp.get("started_at"),
        "git_commit": run.stamp.get("git_commit"),
        "doctors": run.stamp.get("doctors"),
        "benches": {
            v.name: {
                "p50": round(v.summary.p50, 4),
                "p95": round(v.summary.p95, 4),
                "p99": round(v.summary.p99, 4),
                "ratio_p50": round(v.ratio_p50, 3) if v.ratio_p50 is not None else None,
            }
            for v in verdicts
            if v.summary.n
        },
    }


def append(folder: Path, run: Run, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Add this run (unless injected) and return the history, oldest first."""
    path = history_path(folder, run.stamp["machine_class"])
    lines = load(path)
    # Re-judging the same run (a new budget, a re-render) must not count it twice.
    seen = {line.get("started_at") for line in lines}
    if not run.stamp.get("injected") and run.stamp.get("started_at") not in seen:
        lines = [*lines, entry(run, verdicts)][-KEEP:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def current(folder: Path, run: Run, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """The stored history with this run at the end, written nowhere: a plain run leaves git clean."""
    lines = load(history_path(folder, run.stamp["machine_class"]))
    if run.stamp.get("injected") or run.stamp.get("started_at") in {line.get("started_at") for line in lines}:
        return lines
    return [*lines, entry(run, verdicts)][-KEEP:]


def load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
