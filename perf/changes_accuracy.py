"""How well `julia perf changes` (julia/perf/engine/changes.py) finds changes, beside asv's step detection,
on series with known changes: detection rate, false positives per 100 commits and delay (docs/performance.md).

    python -m venv /tmp/cp && /tmp/cp/bin/pip install apache-otava asv otava-test-data
    PYTHONPATH=. /tmp/cp/bin/python perf/changes_accuracy.py [--trials 40]

Two kinds of series, 100 commits each:
- chained (julia's history): each commit's same-run log-ratio against its parent, with normal noise of
  standard error SE (0.01 or 0.02: a 95% interval of about +-2% or +-4%, as julia's warm queries measure);
  a step of 1.05x or 1.2x at one commit, a creep of 12 commits at 1.03x each, or nothing. julia's detector
  reads the links (steps, Otava on the log-ratios, the drift budget); Otava and asv on the cumulative
  product are what running them on the chained level would give.
- absolute (otava-test-data's step_function: a level of 100 with normal noise and one step), the series
  asv and Otava are made for (a p50 per commit, a counter): Otava and asv on the values.
A change found within TOLERANCE commits of the true one is a detection, any other a false positive; the
delay is how many commits after the change the first prefix of the series that shows it ends (the change's
own commit: 0). Nothing here is timed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import otava_test_data
from asv import step_detect

from julia.perf.engine import changes

LENGTH = 100
TOLERANCE = 2
DELAY_SCAN = 30  # prefixes scanned past a change for its delay
T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    kind: str  # none | step | creep
    size: float
    se: float


def chained_links(logs: Sequence[float], se: float) -> list[changes.Link]:
    half = math.exp(changes.Z95 * se)
    return [
        changes.Link(str(i), str(i - 1), math.exp(d), math.exp(d) / half, math.exp(d) * half)
        for i, d in enumerate(logs)
    ]


def julia_finds(links: Sequence[changes.Link]) -> list[int]:
    """Where julia's detector says a change is: steps, rate changes, the drift alarm (at the last link)."""
    found = [int(c.commit) for c in changes.steps(links, "b") + changes.rate_changes(links, "b")]
    drift = changes.drift(links, "b")
    if drift is not None and drift.over:
        found.append(int(links[-1].commit))
    return sorted(set(found))


def otava_finds(values: Sequence[float]) -> list[int]:
    return [i for i, *_ in changes.detect(values)]


def asv_finds(values: Sequence[float]) -> list[int]:
    return [int(step[0]) for step in step_detect.detect_steps(list(values))[1:]]


@dataclass
class Tally:
    trials: int = 0
    detected: int = 0
    false: int = 0
    commits: int = 0
    delays: list[int] | None = None

    def row(self) -> str:
        delays = self.delays or []
        delay = f"{int(np.median(delays))} ({min(delays)}-{max(delays)})" if delays else "-"
        rate = f"{self.detected / self.trials:.0%}" if self.delays is not None else "-"
        return f"{rate} | {self.false / self.commits * 100:.2f} | {delay}"


def score(
    find: Callable[[Sequence[T]], list[int]], series: Sequence[T], true: range | None, tally: Tally
) -> None:
    """`find`: the changes found in a series' first commits; `true`: where a finding counts as the change."""
    found = find(series)
    tally.trials += 1
    tally.commits += LENGTH
    near = [i for i in found if true is not None and true.start - TOLERANCE <= i < true.stop + TOLERANCE]
    tally.false += len(found) - len(near)
    if true is None:
        return
    tally.delays = tally.delays if tally.delays is not None else []
    if not near:
        return
    tally.detected += 1
    for n in range(true.start + 1, min(LENGTH, true.start + DELAY_SCAN) + 1):
        if any(true.start - TOLERANCE <= i < true.stop + TOLERANCE for i in find(series[:n])):
            tally.delays.append(n - 1 - true.start)
            return


def chained_cases(trials: int, rng: np.random.Generator) -> list[str]:
    rows = []
    for se in (0.01, 0.02):
        for case in (
            Case("none", 1.0, se),
            Case("step", 1.05, se),
            Case("step", 1.2, se),
            Case("creep", 1.03, se),
        ):
            tallies = {name: Tally() for name in ("julia", "otava-level", "asv-level")}
            for _ in range(trials):
                logs = rng.normal(0.0, se, LENGTH)
                k = int(rng.integers(20, 70))
                true: range | None = None
                if case.kind == "step":
                    logs[k] += math.log(case.size)
                    true = range(k, k + 1)
                elif case.kind == "creep":
                    logs[k : k + 12] += math.log(case.size)
                    true = range(k, k + 12)
                links = chained_links([float(d) for d in logs], se)
                level = [float(v) for v in np.exp(np.cumsum(logs))]
                score(julia_finds, links, true, tallies["julia"])
                score(otava_finds, level, true, tallies["otava-level"])
                score(asv_finds, level, true, tallies["asv-level"])
            what = (
                "unchanged"
                if case.kind == "none"
                else f"{case.kind} {case.size:g}x" + (" x 12" if case.kind == "creep" else "")
            )
            for name, tally in tallies.items():
                rows.append(f"| chained, SE {se:g} | {what} | {name} | {tally.row()} |")
    return rows


def absolute_cases(trials: int, rng: np.random.Generator) -> list[str]:
    rows = []
    for sigma in (2.0, 5.0):
        for after in (100.0, 105.0, 120.0):
            tallies = {"otava": Tally(), "asv": Tally()}
            for _ in range(trials):
                k = int(rng.integers(20, 80))
                seed = int(rng.integers(1 << 30))
                series = otava_test_data.step_function(LENGTH, 100.0, after, k, sigma=sigma, seed=seed)
                values = [float(v) for v in series.data]
                true = None if after == 100.0 else range(k, k + 1)
                score(otava_finds, values, true, tallies["otava"])
                score(asv_finds, values, true, tallies["asv"])
            what = "unchanged" if after == 100.0 else f"step {after / 100:g}x"
            for name, tally in tallies.items():
                rows.append(
                    f"| otava-test-data step_function, sigma {sigma:g}% | {what} | {name} | {tally.row()} |"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=40, help="series per case (default 40)")
    parser.add_argument("--seed", type=int, default=32, help="random seed (default 32)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.trials} series of {LENGTH} commits per case; tolerance +-{TOLERANCE} commits\n")
    print(
        "| series | change | detector | detected | false per 100 commits | delay, commits (median, range) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in chained_cases(args.trials, rng) + absolute_cases(args.trials, rng):
        print(row)


if __name__ == "__main__":
    main()
