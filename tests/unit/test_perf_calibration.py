"""The threshold calibration suggests from A/A runs: above what unchanged code reaches, with a margin for
the runs not yet seen, and what it would catch from the same runs. No servers."""

from __future__ import annotations

import math

import numpy as np

from julia.perf.engine.calibration import MARGIN_SD, MIN_RUNS_SUGGESTION, suggested


def test_a_threshold_clears_every_a_a_lower_bound_with_a_margin_and_says_what_it_catches() -> None:
    rng = np.random.default_rng(7)
    lows = list(np.exp(rng.normal(math.log(0.96), 0.02, 20)))  # intervals' lower bounds, identical sides
    figures = suggested(lows, [1.1, 1.2])
    assert figures is not None
    assert figures["threshold"] >= max(lows)
    expected = math.exp(np.mean(np.log(lows)) + MARGIN_SD * np.std(np.log(lows), ddof=1))
    assert figures["threshold"] == max(1.01, math.ceil(expected * 100) / 100)
    assert figures["caught_scaled"]["1.2"] == 1.0  # 0.96 x 1.2 = 1.15, far above ~1.03
    assert 0.0 <= figures["caught_scaled"]["1.1"] <= 1.0


def test_too_few_runs_suggest_nothing() -> None:
    assert suggested([0.97] * (MIN_RUNS_SUGGESTION - 1), [1.2]) is None
