"""Baselines: one committed JSON per machine class in perf.toml's baselines folder (julia's:
perf/baselines/), written only by an explicit `julia perf baseline --why "..."` from a real run, and stamped
with who, when and why."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from julia.perf.engine import stats
from julia.perf.engine.errors import PerfError
from julia.perf.engine.results import Bench, Run, reviewable_json

# Enough order statistics for the rank test to see a 1.3x shift, small enough to review in a diff.
BASELINE_SAMPLES = 400


def baseline_path(folder: Path, machine_class: str) -> Path:
    return folder / f"{machine_class}.json"


def load_baseline(folder: Path, machine_class: str) -> Run | None:
    path = baseline_path(folder, machine_class)
    return Run.load(path) if path.is_file() else None


def write_baseline(folder: Path, run: Run, why: str, who: str | None = None) -> Path:
    """Store `run` (samples reduced to BASELINE_SAMPLES order statistics, its base left out) as its
    class's baseline: drift to look at when a run has no base (julia.perf.engine.base_choice), never the
    timing reference."""
    if not why.strip():
        raise PerfError('a baseline update needs a reason: --why "..."')
    if run.stamp.get("injected"):
        raise PerfError(f"refusing to baseline a run with an injected regression ({run.stamp['injected']})")
    machine_class = run.stamp["machine_class"]
    path = baseline_path(folder, machine_class)
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
    path.write_text(reviewable_json({**reduced.to_dict(), "updates": [*previous, update]}))
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
        None,  # a profile explains a same-run verdict; a stored one would only be another machine's CPU
    )
