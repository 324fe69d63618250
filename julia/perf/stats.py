"""Percentiles from raw samples and the timing-regression rule.

The rule (perf/README.md): a benchmark regressed when its floor-normalised samples are stochastically
larger than the baseline's (one-sided Mann-Whitney U, p < ALPHA) AND its median ratio grew by more than
MIN_EFFECT. The test alone flags harmless shifts once samples are many; the effect alone flags noise
when they are few. Both must hold.

One guard: the absolute median must have grown too (more than ABSOLUTE_GUARD). A ratio is
(round trip + server work) / round trip, so when the machine gets quieter and the floor's round trip
shrinks, a query that does real work on the server sees its ratio rise with its time unchanged (measured
here: the floor at 0.034 ms against 0.044 ms moves a tag lookup's ratio 1.37x). That is not julia
getting slower, and the guard keeps it from failing CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

ALPHA = 0.01
MIN_EFFECT = 1.3
ABSOLUTE_GUARD = 1.1


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def summarize(samples: Sequence[float]) -> Summary:
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


@dataclass(frozen=True)
class Comparison:
    p_value: float
    effect: float  # median(current) / median(baseline)
    regressed: bool
    absolute_effect: float | None = None


def compare(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    absolute_effect: float | None = None,
) -> Comparison:
    """Is `current` slower than `baseline`? Both are floor-normalised ratios (dimensionless);
    `absolute_effect` is median(current ms) / median(baseline ms) when known (the guard)."""
    if len(current) < 2 or len(baseline) < 2:
        raise ValueError("a comparison needs at least two samples on each side")
    p_value = float(mannwhitneyu(current, baseline, alternative="greater").pvalue)
    effect = float(np.median(current) / np.median(baseline))
    guard = absolute_effect is None or absolute_effect > ABSOLUTE_GUARD
    return Comparison(p_value, effect, p_value < alpha and effect > min_effect and guard, absolute_effect)
