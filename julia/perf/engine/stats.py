"""Percentiles from raw samples, and the timing verdict of a same-run A/B comparison.

The unit of observation is a *block pair*: the base measured a short block of samples, the head measured
its block right beside it (randomized order, julia.perf.engine.turns), or the other way round. Samples
inside a block are autocorrelated (a neighbour's burst lasts longer than one call), so they are never treated
as independent: each pair gives one number, the log of the ratio of the two blocks' medians, and the verdict
is the Hodges-Lehmann estimate of those numbers with its distribution-free confidence interval (Wilcoxon
signed-rank inversion). Fail when the whole interval lies above the benchmark's threshold, pass when it lies
below, and otherwise say *inconclusive*: a warning, never a pass in disguise. Every verdict carries this
run's power: the slowdown it would have failed half the time, and the one it would have failed 4 times in
5 (`ABComparison.effect_at`).

The cross-machine comparison with the stored baseline (`drift`) uses medians only and is information:
a time measured on one machine is not evidence on another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import norm

THRESHOLD = 1.10  # head/base median ratio a warm benchmark may not exceed (perf/budgets.toml may override)
CONFIDENCE = 0.95  # two-sided interval over block pairs
POWERS = (0.5, 0.8)  # the power each verdict's detectable effect is said at
MIN_PAIRS = 6  # below this the signed-rank interval at 95% is unbounded: nothing can be concluded

Outcome = Literal["regressed", "ok", "inconclusive", "unpaired"]


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def summarize(samples: Sequence[float]) -> Summary:
    """numpy's percentiles: linear interpolation between the closest ranks, the one definition julia uses
    (julia.metrics.percentile, which the service and the capacity report call; the engine imports nothing
    of julia, and tests/unit/test_percentile.py holds the two to the same figures)."""
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return Summary(
        int(values.size), float(p50), float(p95), float(p99), float(values.max()), float(values.mean())
    )


def subsample(samples: Sequence[float], size: int) -> list[float]:
    """`size` evenly spaced order statistics: a baseline small enough to commit with the same distribution."""
    ordered = np.sort(np.asarray(samples, dtype=float))
    if ordered.size <= size:
        return [float(v) for v in ordered]
    picks = np.linspace(0, ordered.size - 1, size).round().astype(int)
    return [float(v) for v in ordered[picks]]


def split_blocks(samples: Sequence[float], blocks: Sequence[int]) -> list[list[float]]:
    """The samples cut back into the blocks they were measured in (`blocks`: their lengths, in order)."""
    if sum(blocks) != len(samples):
        raise ValueError(f"{len(samples)} samples but blocks adding up to {sum(blocks)}")
    out, start = [], 0
    for size in blocks:
        out.append(list(samples[start : start + size]))
        start += size
    return out  # empty blocks kept: the k-th block stays the k-th round


def pair_log_ratios(
    head: Sequence[Sequence[float]],
    base: Sequence[Sequence[float]],
    head_rounds: Sequence[int] | None = None,
    base_rounds: Sequence[int] | None = None,
) -> list[float]:
    """log(median(head block) / median(base block)) for every pair: the blocks both sides measured in
    the same round of turns when the rounds are known (blocks measured minutes apart are no pair), else
    the k-th block of each."""
    if head_rounds is not None and base_rounds is not None:
        by_round = dict(zip(base_rounds, base, strict=False))
        pairs = [(h, by_round[r]) for h, r in zip(head, head_rounds, strict=False) if r in by_round]
    else:
        pairs = list(zip(head, base, strict=False))
    return [
        math.log(float(np.median(h)) / float(np.median(b)))
        for h, b in pairs
        if h and b and np.median(b) > 0 and np.median(h) > 0
    ]


def hodges_lehmann(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The Hodges-Lehmann location of `values` (median of the Walsh averages) and the distribution-free
    interval from inverting the Wilcoxon signed-rank test (normal approximation of its critical rank,
    good from about 6 values). Unbounded (-inf, inf) when there are too few values to say anything."""
    d = np.asarray(values, dtype=float)
    n = d.size
    if n == 0:
        return math.nan, -math.inf, math.inf
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    estimate = float(np.median(walsh))
    if n < MIN_PAIRS:
        return estimate, -math.inf, math.inf
    total = walsh.size  # n(n+1)/2
    z = float(norm.ppf(0.5 + confidence / 2))
    k = max(math.floor(total / 2 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)), 0)
    return estimate, float(walsh[k]), float(walsh[total - 1 - k])


@dataclass(frozen=True)
class ABComparison:
    """head / base, as ratios (1.0 = the same time)."""

    pairs: int
    ratio: float  # Hodges-Lehmann estimate of the head/base ratio of block medians
    low: float  # the interval's bounds
    high: float
    threshold: float
    outcome: Outcome
    confidence: float = CONFIDENCE
    # The slowdown this benchmark must catch (perf/budgets.toml's [gate] must_catch), when above the
    # threshold: an interval wholly below it is "ok" even where it still reaches above the threshold.
    must_catch: float | None = None

    @property
    def below_threshold(self) -> bool:
        """The whole interval below the threshold: ruled out every slowdown the gate fails on, not only
        the one it must catch."""
        return self.high < self.threshold

    def effect_at(self, power: float) -> float:
        """The slowdown this run would have failed with probability `power`, had the head been that much
        slower with the same spread. The interval's half-width hw (log scale) is z_c standard errors of
        the estimate (z_c = the normal quantile of the interval's confidence, 1.96 at 95%); the gate fails
        when estimate - hw > log T; with the estimate normal around the true log-ratio m, it does so with
        probability Phi((m - log T - hw) / se), so m = log T + hw (1 + z_p / z_c). At 50% power that is
        T x e^hw (the lower bound lands on T half the time); at 80%, T x e^(1.43 hw). The normal model is
        the one the interval's own critical rank uses (hodges_lehmann)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.ratio <= 0:
            return math.inf
        half = (math.log(self.high) - math.log(self.low)) / 2
        z_conf = float(norm.ppf(0.5 + self.confidence / 2))
        return self.threshold * math.exp(half * (1 + float(norm.ppf(power)) / z_conf))

    @property
    def detectable(self) -> float:
        """The slowdown caught half the time (50% power): what the calibration files call detectable."""
        return self.effect_at(0.5)

    @property
    def detectable_80(self) -> float:
        """The slowdown caught 4 times in 5 (80% power): what a reader takes "this run could catch" for."""
        return self.effect_at(0.8)


def caught_at(lows: Sequence[float], threshold: float, factor: float = 1.0) -> int:
    """How many A/A runs (their intervals' lower bounds) would have failed `threshold` with the head slowed
    `factor` times: at 1.0 the false failures, above it the catches. Scaling the head's samples by f
    moves the Hodges-Lehmann interval by exactly f, so the A/A runs answer for any slowdown."""
    return sum(low * factor > threshold for low in lows)


def compare_blocks(
    head: Sequence[Sequence[float]],
    base: Sequence[Sequence[float]],
    *,
    head_rounds: Sequence[int] | None = None,
    base_rounds: Sequence[int] | None = None,
    threshold: float = THRESHOLD,
    confidence: float = CONFIDENCE,
    must_catch: float | None = None,
) -> ABComparison:
    """The same-run verdict of head against base over their block pairs: "regressed" when the whole
    interval lies above `threshold`; "ok" when it lies below it or, given `must_catch` (the slowdown the
    benchmark is held to catch, above the threshold), below that; else "inconclusive".

    A test with an indifference zone: the run fails a slowdown from the threshold up, and must answer for
    one of `must_catch`; an interval that rules that out has answered, though it cannot tell whether a
    slowdown between the two happened (the report and the terminal say so). The failure rule is the
    threshold's alone, so the calibrated false failures and catches do not move."""
    logs = pair_log_ratios(head, base, head_rounds, base_rounds)
    if not logs:
        return ABComparison(0, math.nan, math.nan, math.nan, threshold, "unpaired", must_catch=must_catch)
    estimate, low, high = hodges_lehmann(logs, confidence)
    answered = math.log(max(threshold, must_catch or threshold))
    outcome: Outcome = (
        "regressed" if low > math.log(threshold) else "ok" if high < answered else "inconclusive"
    )
    return ABComparison(
        len(logs),
        math.exp(estimate),
        math.exp(low),
        math.exp(high),
        threshold,
        outcome,
        confidence,
        must_catch,
    )


@dataclass(frozen=True)
class Drift:
    """This run's median against the stored baseline's (another run, maybe another machine): shown only."""

    time: float  # median ms now / median ms then
    ratio: float | None  # the same for the floor-normalised ratios, when both have them


def drift(
    now_ms: Sequence[float], then_ms: Sequence[float], now_ratio: float | None, then_ratio: float | None
) -> Drift:
    time = float(np.median(now_ms) / np.median(then_ms))
    ratio = now_ratio / then_ratio if now_ratio and then_ratio else None
    return Drift(time, ratio)
