"""reports/out/pytest-benchmark.json: the head's samples in pytest-benchmark's JSON format, so the tools
that read it (`pytest-benchmark compare`, github-action-benchmark, Bencher) read julia's runs too.

The statistics are pytest-benchmark's own (`pytest_benchmark.stats.Stats`, fed every raw sample in
seconds, as that format wants), so its quartile and outlier rules are theirs, not a copy. Our timing is
not pytest-benchmark's timer (perf/README.md says why); `options.timer` says so.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest_benchmark
from pytest_benchmark.stats import Stats

from julia.perf.engine.results import Bench, Run

TIMER = "time.perf_counter_ns (julia.perf.engine.harness, one sample per call)"


def document(run: Run) -> dict[str, Any]:
    stamp = run.stamp
    return {
        "machine_info": _machine_info(stamp),
        "commit_info": _commit_info(stamp),
        "benchmarks": [_benchmark(bench) for bench in run.benches.values() if bench.samples_ms],
        "datetime": stamp.get("started_at"),
        "version": pytest_benchmark.__version__,
    }


def write(run: Run, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(run), indent=1))
    return path


def _machine_info(stamp: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's machine_info keys. The run's stamp knows the Python and the machine class; the
    host's name and kernel are read here, where the gate runs (on CI, the machine that measured)."""
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": stamp.get("python") or platform.python_version(),
        "python_version": stamp.get("python") or platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"machine_class": stamp.get("machine_class")},
        "postgres": stamp.get("postgres"),
        "servers": stamp.get("servers"),
    }


def _commit_info(stamp: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": stamp.get("git_commit") or "unknown",
        "time": stamp.get("started_at"),
        "author_time": None,
        "dirty": None,  # results.json does not record it
        "project": "julia",
        "branch": None,
    }


def _benchmark(bench: Bench) -> dict[str, Any]:
    # pytest-benchmark ships py.typed but leaves Stats unannotated.
    stats = Stats()  # type: ignore[no-untyped-call]
    for sample in bench.samples_ms:
        stats.update(sample / 1000)  # type: ignore[no-untyped-call]
    body: dict[str, Any] = stats.as_dict()  # type: ignore[no-untyped-call]
    body["data"] = list(stats.data)
    body["iterations"] = 1
    return {
        "group": bench.group,
        "name": bench.name,
        "fullname": f"perf::{bench.group}::{bench.name}",
        "params": None,
        "param": None,
        "extra_info": {
            "floor": bench.floor,
            "blocks": len(bench.blocks) if bench.blocks else None,
            **{k: v for k, v in bench.counters.items() if isinstance(v, int | float | str)},
        },
        "options": {"timer": TIMER, "disable_gc": False, "min_rounds": len(bench.samples_ms)},
        "stats": body,
    }
