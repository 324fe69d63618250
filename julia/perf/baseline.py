"""Baselines: one committed JSON per machine class in perf/baselines/, written only by an explicit
`julia perf baseline --why "..."` from a real run, and stamped with who, when and why."""

from __future__ import annotations

import getpass
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from julia.errors import JuliaError
from julia.perf import stats
from julia.perf.results import Bench, Run, project_root

# Enough order statistics for the rank test to see a 1.3x shift, small enough to review in a diff.
BASELINE_SAMPLES = 400


def perf_dir() -> Path:
    return project_root() / "perf"


def baseline_path(machine_class: str) -> Path:
    return perf_dir() / "baselines" / f"{machine_class}.json"


def load_baseline(machine_class: str) -> Run | None:
    path = baseline_path(machine_class)
    return Run.load(path) if path.is_file() else None


def load_baseline_commit() -> str | None:
    """The commit an A/B run measures against by default: the one this machine kind's baseline was
    recorded at (same arch and cpus), else the most recently updated baseline's."""
    files = sorted((perf_dir() / "baselines").glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    mine = f"{platform.machine()}-{os.cpu_count()}cpu-"
    files.sort(key=lambda p: not p.name.startswith(mine))
    for path in files:
        stamp = json.loads(path.read_text()).get("stamp", {})
        commit = stamp.get("git_commit")
        if commit:
            return str(commit)
    return None


def write_baseline(run: Run, why: str, who: str | None = None) -> Path:
    """Store `run` (samples reduced to BASELINE_SAMPLES order statistics, its base left out) as its
    class's baseline. Its commit becomes the default base of later A/B runs."""
    if not why.strip():
        raise JuliaError('a baseline update needs a reason: --why "..."')
    if run.stamp.get("injected"):
        raise JuliaError(f"refusing to baseline a run with an injected regression ({run.stamp['injected']})")
    machine_class = run.stamp["machine_class"]
    path = baseline_path(machine_class)
    previous = json.loads(path.read_text()).get("updates", []) if path.is_file() else []
    update = {
        "who": who or os.environ.get("GIT_AUTHOR_NAME") or getpass.getuser(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "why": why.strip(),
        "run_started_at": run.stamp.get("started_at"),
        "git_commit": run.stamp.get("git_commit"),
    }
    reduced = Run(run.stamp, {name: _reduce(b) for name, b in run.benches.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_reviewable_json({**reduced.to_dict(), "updates": [*previous, update]}))
    return path


def _reduce(bench: Bench) -> Bench:
    def keep(values: list[float]) -> list[float]:
        return [round(v, 5) for v in stats.subsample(values, BASELINE_SAMPLES)]

    return Bench(
        bench.name,
        bench.group,
        bench.floor,
        keep(bench.samples_ms),
        bench.counters,
        keep(bench.ratios) if bench.ratios else None,
        None,  # order statistics have no blocks: a baseline is for drift, never for an A/B verdict
        None,
    )


def _reviewable_json(payload: dict[str, object]) -> str:
    """Stamp and updates indented, one line per benchmark: a baseline change reads as a short diff."""
    benches = payload.pop("benches")
    assert isinstance(benches, dict)
    head = json.dumps(payload, indent=1, default=str)[:-2]
    lines = [f" {json.dumps(name)}: {json.dumps(bench, default=str)}" for name, bench in benches.items()]
    return head + ',\n "benches": {\n' + ",\n".join(lines) + "\n }\n}\n"
