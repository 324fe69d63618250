"""The run for other tools, with its verdict kept: a time measured on one machine is no evidence on another,
so what travels is the same-run comparison, not only the head's times.

- reports/out/pytest-benchmark.json: pytest-benchmark's JSON format, so the tools that read it
  (`pytest-benchmark compare`, github-action-benchmark) read julia's runs too. Both sides: the head under
  each benchmark's own name, the base measured beside it as `<name>[base]` (params `{"side": "base"}`),
  and in the head's `extra_info` the verdict: head/base ratio, its 95% interval, the threshold, the
  outcome and the slowdown caught at 50% and 80% power.
- reports/out/bencher.json: Bencher Metric Format (https://bencher.dev/docs/reference/bencher-metric-format),
  for `bencher run --adapter json --file reports/out/bencher.json`. Per benchmark the measure
  `head-base-ratio` (value: the Hodges-Lehmann head/base ratio; lower_value, upper_value: its 95%
  interval, left out when unbounded), which a Bencher threshold can hold at 1.0 across machines, and
  `latency`, Bencher's built-in measure (nanoseconds): the head's median, with the base's beside it as
  `base-latency`.

The statistics are pytest-benchmark's own (`pytest_benchmark.stats.Stats`, fed every raw sample in
seconds, as that format wants), so its quartile and outlier rules are theirs, not a copy. Our timing is
not pytest-benchmark's timer (perf/README.md says why); `options.timer` says so.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import pytest_benchmark
from pytest_benchmark.stats import Stats

from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Bench, Run, project_of

TIMER = "time.perf_counter_ns (the perf engine's harness, one sample per call)"
RATIO_MEASURE = "head-base-ratio"


def document(run: Run, verdicts: list[Verdict] | None = None) -> dict[str, Any]:
    """pytest-benchmark's document: the head's benchmarks with their verdicts, then the base's."""
    stamp = run.stamp
    judged = {v.name: v for v in verdicts or []}
    head = [
        _benchmark(bench, verdict=judged.get(bench.name))
        for bench in run.benches.values()
        if bench.samples_ms
    ]
    base = [
        _benchmark(bench, side="base")
        for bench in (run.base.benches.values() if run.base else ())
        if bench.samples_ms
    ]
    return {
        "machine_info": _machine_info(stamp),
        "commit_info": _commit_info(stamp),
        "benchmarks": head + base,
        "datetime": stamp.get("started_at"),
        "version": pytest_benchmark.__version__,
    }


def bencher(run: Run, verdicts: list[Verdict]) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: {benchmark: {measure: {value, lower_value, upper_value}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for v in verdicts:
        head = run.benches.get(v.name)
        if head is None or not head.samples_ms:
            continue
        measures: dict[str, dict[str, float]] = {"latency": {"value": v.summary.p50 * 1e6}}
        if v.base_summary is not None:
            measures["base-latency"] = {"value": v.base_summary.p50 * 1e6}
        ab = v.ab
        if ab is not None and math.isfinite(ab.ratio):
            ratio = {"value": ab.ratio}
            if ab.low > 0 and math.isfinite(ab.high):  # unbounded: exp(-inf) = 0 below, inf above
                ratio |= {"lower_value": ab.low, "upper_value": ab.high}
            measures[RATIO_MEASURE] = ratio
        out[v.name] = measures
    return out


def write(run: Run, verdicts: list[Verdict], path: Path) -> Path:
    """pytest-benchmark's JSON at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(run, verdicts), indent=1))
    return path


def write_bencher(run: Run, verdicts: list[Verdict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bencher(run, verdicts), indent=1))
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
        "project": project_of(stamp)["name"],
        "branch": None,
    }


def _verdict(v: Verdict) -> dict[str, Any]:
    """The same-run verdict, as plain numbers (None where unbounded: JSON has no infinity)."""
    ab = v.ab
    if ab is None:
        return {"status": v.status}

    def number(x: float) -> float | None:
        """A ratio, or None where the interval is unbounded (exp(-inf) = 0 below, inf above)."""
        return round(x, 4) if math.isfinite(x) and x > 0 else None

    return {
        "status": v.status,
        "head_base_ratio": number(ab.ratio),
        "interval_95": [number(ab.low), number(ab.high)],
        "threshold": ab.threshold,
        "block_pairs": ab.pairs,
        "outcome": ab.outcome,
        "caught_at_50pct_power": number(ab.detectable),
        "caught_at_80pct_power": number(ab.detectable_80),
    }


def _benchmark(bench: Bench, *, side: str = "head", verdict: Verdict | None = None) -> dict[str, Any]:
    # pytest-benchmark ships py.typed but leaves Stats unannotated.
    stats = Stats()  # type: ignore[no-untyped-call]
    for sample in bench.samples_ms:
        stats.update(sample / 1000)  # type: ignore[no-untyped-call]
    body: dict[str, Any] = stats.as_dict()  # type: ignore[no-untyped-call]
    body["data"] = list(stats.data)
    body["iterations"] = 1
    suffix = "" if side == "head" else f"[{side}]"
    return {
        "group": bench.group,
        "name": bench.name + suffix,
        "fullname": f"perf::{bench.group}::{bench.name}{suffix}",
        "params": {"side": side},
        "param": side,
        "extra_info": {
            "side": side,
            "floor": bench.floor,
            "blocks": len(bench.blocks) if bench.blocks else None,
            **{k: v for k, v in bench.counters.items() if isinstance(v, int | float | str)},
            **({"verdict": _verdict(verdict)} if verdict is not None else {}),
        },
        "options": {"timer": TIMER, "disable_gc": False, "min_rounds": len(bench.samples_ms)},
        "stats": body,
    }
