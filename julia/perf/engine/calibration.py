"""The gate's own accuracy, measured: `julia perf calibrate` (nox -s perf-calibrate).

Each round is one A/A run (the head against itself: every regression it reports is a false failure) and,
for `--injected` rounds, one run per factor with a real slowdown in the head's measured path
(`--inject-slowdown`: CPU work on the head's event loop after each timed call, until the call took
`factor` times as long). Per benchmark it writes the false-failure rate, how often each factor was caught,
the smallest factor caught in at least 19 of 20 runs (95%), and the detectable effect the A/A runs reached.

Two estimates of "caught", both written: `caught` from the injected runs, and `caught_scaled` from the
A/A runs themselves. Multiplying every head sample by f shifts every block pair's log-ratio by log f, so
the Hodges-Lehmann interval shifts by exactly log f: an A/A run whose lower bound is L would have failed
a slowdown f when L x f > threshold. That is exact for a proportional slowdown that adds no noise of its
own; the injected runs check it against a real one. perf/budgets.toml's thresholds cite
these figures; the latest file is committed (perf/calibration/<machine class>.json) and shown in the
report. Long work: every run is a whole A/B run, so it runs on demand, not in every CI run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from julia.perf.engine import ab, stats
from julia.perf.engine.config import Config
from julia.perf.engine.errors import PerfError
from julia.perf.engine.gate import Budgets, Verdict, judge, load_budgets
from julia.perf.engine.results import Run, reviewable_json
from julia.perf.engine.vcs import git

CAUGHT = 0.95  # "caught in 19 of 20 runs"
# A threshold is suggested so that an A/A run's lower bound passes it with this many robust standard
# deviations to spare (log scale, median and 1.4826 x MAD over the calibration's A/A runs, since a lower
# bound's distribution has a long left tail, runs with a wide interval, that says nothing of the right one
# a false failure comes from): 3 leaves about 0.13% per benchmark and run under a normal model, so ~40
# benchmarks fail unchanged code in at most ~1 run in 20. Never below the highest lower bound seen plus 2%,
# and never below MIN_THRESHOLD: a slowdown under 5% is not what the gate is asked to fail (1.1x is the
# aim), and nearer 1.0 the sides' residual placement bias (up to 4% in A/A runs,
# julia/perf/engine/placement.py) would be enough to fail.
MARGIN_SD = 3.0
MIN_THRESHOLD = 1.05
MIN_RUNS_SUGGESTION = 10  # fewer A/A runs than this say too little about a tail to set a threshold by
SCALED_FACTORS = (1.1, 1.2, 1.5)  # the targets: 1.1x the aim, 1.2x warm, 1.5x cold and webhooks


def load(folder: Path, machine_class: str) -> dict[str, Any] | None:
    """The machine class's calibration (<calibration>/<class>.json), None when it was never calibrated."""
    path = folder / f"{machine_class}.json"
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def uncalibrated(machine_class: str, budgets: Budgets, command: str) -> str:
    """The line a run on a class with no calibration starts with (`command`: the project's, perf.toml)."""
    return (
        f"machine class {machine_class} is NOT calibrated (no calibration/{machine_class}.json): timing is "
        f"judged at conservative thresholds (at least {budgets.uncalibrated_threshold:.2f}x), not another "
        f"class's; `{command} calibrate` on this class measures its own"
    )


def calibrated(machine_class: str, calibration: dict[str, Any]) -> str:
    return (
        f"machine class {machine_class}, calibrated: {calibration.get('runs')} A/A runs at "
        f"{calibration.get('git_commit')} ({calibration.get('when')})"
    )


def _judged(run: Run, budgets_file: Path) -> list[Verdict]:
    """Every benchmark judged as the gate will judge it once timing fails: the question is that gate's
    false-failure rate, whatever [gate] timing_fails says today."""
    return judge(run, dataclasses.replace(load_budgets(budgets_file), timing_fails=True))


def _outcomes(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.name: v for v in verdicts if v.ab is not None}


def calibrate(
    config: Config,
    services: ab.Servers,
    pytest_args: list[str],
    runs: int,
    factors: list[float],
    out: Path | None,
    injected: int | None = None,
    *,
    owns_server: bool = False,
    topology: str = "",
) -> Path:
    """The runs, with the figures rewritten after every round: a long calibration stopped half way still
    leaves what it measured. `owns_server`: Postgres was started for it (julia.perf.engine.autovacuum);
    `topology`: where the servers run, part of the machine class the figures are filed under."""
    if runs < 1:
        raise PerfError(f"--runs must be at least 1, not {runs}")
    head = config.root
    budgets = load_budgets(config.budgets)
    work = config.out / "calibration"
    aa: dict[str, list[Verdict]] = {}
    # Per A/A run, every benchmark that failed the whole gate (hard checks and timing alike) with the
    # checks it failed: what a person running `nox -s perf` on unchanged code would have seen.
    gate_failures: list[list[str]] = []
    slowed: dict[float, dict[str, list[Verdict]]] = {f: {} for f in factors}
    machine = "unknown"
    injected_runs = runs if injected is None else min(injected, runs)
    path = out or config.calibration / "unknown.json"

    def same_code(results: Path, head_extra: tuple[str, ...] = ()) -> Run:
        """One A/B run of the head against itself (`head_extra`: its injected slowdown)."""
        return ab.run(
            head,
            services,
            pytest_args,
            results,
            base_ref=None,
            project=config.project,
            turn_modules=config.turn_modules,
            server_applications=config.server_applications,
            owns_server=owns_server,
            same_code=True,
            head_extra=head_extra,
            extra_blocks=budgets.extra_blocks(),
            topology=topology,
        )

    for r in range(runs):
        print(f"calibration round {r + 1}/{runs}: A/A")
        run = same_code(work / f"aa-{r}.json")
        machine = str(run.stamp.get("machine_class", machine))
        verdicts = _judged(run, config.budgets)
        gate_failures.append(sorted(_failed_checks(v) for v in verdicts if v.failed))
        for name, verdict in _outcomes(verdicts).items():
            aa.setdefault(name, []).append(verdict)
        for factor in factors if r < injected_runs else ():
            print(f"calibration round {r + 1}/{runs}: head slowed {factor:g}x")
            run = same_code(work / f"slow{factor:g}-{r}.json", (f"--inject-slowdown={factor}",))
            for name, verdict in _outcomes(_judged(run, config.budgets)).items():
                slowed[factor].setdefault(name, []).append(verdict)
        path = out or config.calibration / f"{machine}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "machine_class": machine,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git(head, "rev-parse", "--short", "HEAD"),
            "runs": r + 1,
            "injected_runs": min(injected_runs, r + 1),
            "factors": factors,
            "command": f"{config.project.command} calibrate --runs {runs} --injected {injected_runs} "
            f"--factors {','.join(f'{f:g}' for f in factors)}",
            "gate": {
                "aa_runs": r + 1,
                "aa_runs_failed": sum(bool(names) for names in gate_failures),
                "failed_benches_per_run": gate_failures,
            },
            "benches": {name: _bench_figures(name, aa, slowed, factors) for name in sorted(aa)},
        }
        path.write_text(reviewable_json(payload))
        print(f"calibration: {r + 1}/{runs} rounds written to {path}")
    return path


def _failed_checks(verdict: Verdict) -> str:
    """`name: check, check`: a hard check (ceiling, counts) tells a different story from a timing one."""
    checks = sorted({f.check for f in verdict.findings if f.severity == "fail"})
    return f"{verdict.name}: {', '.join(checks)}"


def _intervals(verdicts: list[Verdict]) -> list[list[float]]:
    """Each run's [ratio, low, high]: with them any other threshold's false failures and catches can be
    counted from the same runs, which is how a threshold is chosen rather than guessed."""
    return [[round(v.ab.ratio, 4), round(v.ab.low, 4), round(v.ab.high, 4)] for v in verdicts if v.ab]


def suggested(lows: Sequence[float], factors: Sequence[float]) -> dict[str, Any] | None:
    """The lowest threshold (to 0.01) the A/A runs' lower bounds clear by MARGIN_SD robust deviations (see
    there), and what each factor's slowdown would be caught at with it, from the same runs (a factor f
    moves a lower bound L to L x f). None below MIN_RUNS_SUGGESTION runs."""
    if len(lows) < MIN_RUNS_SUGGESTION or any(low <= 0 for low in lows):
        return None
    logs = [math.log(low) for low in lows]
    centre = statistics.median(logs)
    spread = 1.4826 * statistics.median(abs(x - centre) for x in logs)
    limit = max(math.exp(centre + MARGIN_SD * spread), max(lows) * 1.02, MIN_THRESHOLD)
    threshold = math.ceil(round(limit * 100, 6)) / 100
    return {
        "threshold": threshold,
        "caught_scaled": {
            f"{f:g}": round(stats.caught_at(lows, threshold, f) / len(lows), 3) for f in sorted(factors)
        },
    }


def _bench_figures(
    name: str,
    aa: dict[str, list[Verdict]],
    slowed: dict[float, dict[str, list[Verdict]]],
    factors: list[float],
) -> dict[str, Any]:
    runs = aa[name]
    false = sum(v.ab is not None and v.ab.outcome == "regressed" for v in runs)
    detectable = [v.ab.detectable for v in runs if v.ab is not None and math.isfinite(v.ab.detectable)]
    caught: dict[str, float] = {}
    smallest = None
    for factor in sorted(slowed):
        got = slowed[factor].get(name, [])
        if not got:
            continue
        rate = sum(v.ab is not None and v.ab.outcome == "regressed" for v in got) / len(got)
        caught[f"{factor:g}"] = round(rate, 3)
        if smallest is None and rate >= CAUGHT:
            smallest = factor
    lows = [v.ab.low for v in runs if v.ab]
    threshold = runs[0].ab.threshold if runs[0].ab else math.inf
    scaled = {
        f"{factor:g}": round(stats.caught_at(lows, threshold, factor) / len(runs), 3)
        for factor in sorted({*factors, *SCALED_FACTORS})
    }
    smallest_scaled = next((float(f) for f, rate in scaled.items() if rate >= CAUGHT), None)
    return {
        "threshold": runs[0].ab.threshold if runs[0].ab else None,
        "aa_runs": len(runs),
        "false_failures": false,
        "false_failure_rate": round(false / len(runs), 3),
        "aa_ratio_median": round(statistics.median(v.ab.ratio for v in runs if v.ab), 4),
        "detectable_median": round(statistics.median(detectable), 3) if detectable else None,
        "caught": caught,
        "smallest_caught_95": smallest,
        "caught_scaled": scaled,
        "smallest_caught_95_scaled": smallest_scaled,
        "suggested": suggested(lows, SCALED_FACTORS),
        "aa_intervals": _intervals(runs),
        "slowed_intervals": {f"{f:g}": _intervals(slowed[f].get(name, [])) for f in sorted(slowed)},
    }
