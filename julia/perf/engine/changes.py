"""Change points and slow creep in the history store (julia.perf.engine.history): `julia perf changes`.

The timing series is chained: each run on main measured its commit against its parent in the same run, so
its log-ratio d_i is the change that commit made, which no machine drift reaches (a stored p50 from a
quieter day would read as a speed-up), and the product of the ratios is the time relative to the first
commit. In that series a change is one of two things:
- a step: one commit moved the time. Its size is that link's ratio, and nothing after it re-measures it
  (each later link is another commit against its parent), so the evidence is the link's own interval: a
  step is listed when its z-test rejects "no change" at the confidence Otava uses below. Running a
  change-point detector over the cumulative product instead finds the random walk its summed noise makes:
  measured at 6-7 false change points per 100 commits (docs/performance.md).
- a change of rate: from some commit on, every commit adds a little (a creep), i.e. the mean of d moved.
  d is independent noise around its mean, what E-divisive with a t-test assumes: Apache Otava's
  `compute_change_points` runs on it.
Each deterministic counter series (rows, buffers, statements, commands: levels, not ratios) goes through
Otava too; a plan is listed where it changed.

Why Otava: a maintained Apache project, the method MongoDB and DataStax run on their CI histories (Fleming
et al., "Hunter", ICPE 2023), a p-value per change point (listed as its confidence), and its E-divisive
modules import only numpy and scipy. asv's step detection (asv.step_detect, a penalised piecewise-constant
fit) gives positions without a confidence; both are measured side by side in docs/performance.md
(perf/changes_accuracy.py).

A creep shorter than Otava's window or too slow for its t-test still adds up: the drift check multiplies
the chained ratios of the last N links and lists each benchmark whose product is past a stated budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scipy.stats import norm

MAX_PVALUE = 0.001  # Otava's default: 99.9% confidence, for steps and rate changes alike
WINDOW = 30  # Otava's sliding window (commits)
DRIFT_LINKS = 12  # the last N commits the drift check multiplies
DRIFT_BUDGET = 1.15  # their product may not exceed this
Z95 = 1.959963984540054

Kind = Literal["step", "rate", "counter", "plan"]


@dataclass(frozen=True)
class Link:
    """One run on main: its commit measured against its base in the same run."""

    commit: str
    base: str | None
    ratio: float
    low: float
    high: float

    @property
    def log_se(self) -> float:
        """The standard error of log(ratio), read back from the 95% interval."""
        return max((math.log(self.high) - math.log(self.low)) / (2 * Z95), 1e-9)

    @property
    def pvalue(self) -> float:
        """Two-sided: that this commit changed nothing."""
        return float(2 * norm.sf(abs(math.log(self.ratio)) / self.log_se))


@dataclass(frozen=True)
class Change:
    kind: Kind
    series: str  # "<bench>: time" or "<bench>: <counter>"
    after_commit: str  # the change is in (after_commit, commit]
    commit: str
    before: float  # step: 1; rate: the mean per-commit ratio before; counter: the mean before
    after: float  # step: the link's ratio; rate: the mean per-commit ratio after; counter: the mean after
    confidence: float  # 1 - p-value

    def describe(self) -> str:
        if self.kind == "plan":
            return "the plan changed"
        if self.kind == "step":
            return f"{self.after:.3f}x"
        if self.kind == "rate":
            return f"each commit {self.before:.3f}x -> {self.after:.3f}x (a creep starts or stops)"
        return f"{self.before:g} -> {self.after:g}"


@dataclass(frozen=True)
class Drift:
    bench: str
    links: int
    first: str  # the chain runs from this commit's parent ...
    last: str  # ... to this commit
    product: float
    low: float
    high: float
    budget: float

    @property
    def over(self) -> bool:
        return self.product > self.budget


def links(lines: Sequence[dict[str, Any]], bench: str) -> list[Link]:
    """The bench's same-run ratios in history order (runs without an interval for it are left out)."""
    found = []
    for line in lines:
        ab = (line.get("benches", {}).get(bench) or {}).get("ab")
        if ab and ab.get("ratio") and ab.get("low") and ab.get("high"):
            commit = str(line.get("git_commit") or "?")
            base = line.get("base_commit")
            found.append(Link(commit, str(base)[:7] if base else None, ab["ratio"], ab["low"], ab["high"]))
    return found


def chained(chain: Sequence[Link]) -> list[float]:
    """The cumulative ratio after each link: the time relative to the first link's base."""
    total, out = 0.0, []
    for link in chain:
        total += math.log(link.ratio)
        out.append(math.exp(total))
    return out


def detect(values: Sequence[float], max_pvalue: float = MAX_PVALUE) -> list[tuple[int, float, float, float]]:
    """(index, mean before, mean after, p-value) of each change point Otava finds in `values`."""
    from otava.analysis import compute_change_points

    if len(values) < 3 or len(set(values)) < 2:
        return []
    points, _ = compute_change_points(list(values), window_len=WINDOW, max_pvalue=max_pvalue)
    return [
        (int(p.index), float(p.stats.mean_1), float(p.stats.mean_2), float(p.stats.pvalue)) for p in points
    ]


def steps(chain: Sequence[Link], bench: str, max_pvalue: float = MAX_PVALUE) -> list[Change]:
    return [
        Change("step", f"{bench}: time", link.base or "?", link.commit, 1.0, link.ratio, 1 - link.pvalue)
        for link in chain
        if link.pvalue < max_pvalue
    ]


def rate_changes(chain: Sequence[Link], bench: str, max_pvalue: float = MAX_PVALUE) -> list[Change]:
    logs = [math.log(link.ratio) for link in chain]
    return [
        Change(
            "rate",
            f"{bench}: time",
            chain[i - 1].commit,
            chain[i].commit,
            math.exp(before),
            math.exp(after),
            1 - p,
        )
        for i, before, after, p in detect(logs, max_pvalue)
    ]


def counter_changes(
    lines: Sequence[dict[str, Any]], bench: str, max_pvalue: float = MAX_PVALUE
) -> list[Change]:
    series: dict[str, list[tuple[str, Any]]] = {}
    for line in lines:
        counters = (line.get("benches", {}).get(bench) or {}).get("counters") or {}
        for key, value in counters.items():
            series.setdefault(key, []).append((str(line.get("git_commit") or "?"), value))
    found = []
    for key, points in sorted(series.items()):
        commits = [commit for commit, _ in points]
        if key == "plan":  # a string: it changed where it differs from the one before, for certain
            found += [
                Change("plan", f"{bench}: plan", commits[i - 1], commits[i], 0.0, 0.0, 1.0)
                for i in range(1, len(points))
                if points[i][1] != points[i - 1][1]
            ]
            continue
        values = [float(v) for _, v in points]
        found += [
            Change("counter", f"{bench}: {key}", commits[i - 1], commits[i], before, after, 1 - p)
            for i, before, after, p in detect(values, max_pvalue)
        ]
    return found


def drift(
    chain: Sequence[Link], bench: str, last: int = DRIFT_LINKS, budget: float = DRIFT_BUDGET
) -> Drift | None:
    """The product of the last `last` chained ratios with its 95% interval (the links' errors added in
    quadrature: each run's blocks are independent of the others'). None under two links."""
    tail = list(chain)[-last:]
    if len(tail) < 2:
        return None
    total = sum(math.log(link.ratio) for link in tail)
    half = Z95 * math.sqrt(sum(link.log_se**2 for link in tail))
    return Drift(
        bench,
        len(tail),
        tail[0].commit,
        tail[-1].commit,
        math.exp(total),
        math.exp(total - half),
        math.exp(total + half),
        budget,
    )


def benches(lines: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({name for line in lines for name in line.get("benches", {})})


def report(
    lines: Sequence[dict[str, Any]], last: int = DRIFT_LINKS, budget: float = DRIFT_BUDGET
) -> tuple[list[Change], list[Drift]]:
    """Every change of every series, and every benchmark's drift over the last `last` links."""
    changes: list[Change] = []
    drifts: list[Drift] = []
    for bench in benches(lines):
        chain = links(lines, bench)
        changes += steps(chain, bench) + rate_changes(chain, bench) + counter_changes(lines, bench)
        if (found := drift(chain, bench, last, budget)) is not None:
            drifts.append(found)
    return changes, drifts


def text(changes: Sequence[Change], drifts: Sequence[Drift], runs: int, budget: float) -> str:
    """What `julia perf changes` prints."""
    out = [f"{runs} runs in the history; changes at {1 - MAX_PVALUE:.1%} confidence:"]
    for c in changes:
        out.append(
            f"  {c.series}: {c.kind} in {c.after_commit}..{c.commit}: {c.describe()}, "
            f"confidence {c.confidence:.4f}"
        )
    if not changes:
        out.append("  none")
    over = [d for d in drifts if d.over]
    out.append(f"drift: the product of each benchmark's last chained ratios, budget {budget:.2f}x:")
    for d in over:
        out.append(
            f"  {d.bench}: {d.product:.3f}x (95% {d.low:.3f}-{d.high:.3f}) over {d.links} commits "
            f"{d.first}..{d.last}: past {d.budget:.2f}x"
        )
    if not over:
        out.append(f"  none past it ({len(drifts)} benchmarks with two or more links)")
    return "\n".join(out)
