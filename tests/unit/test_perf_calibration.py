"""The threshold calibration suggests from A/A runs: above what unchanged code reaches, with a margin for
the runs not yet seen, and what it would catch from the same runs. No servers."""

from __future__ import annotations

import math

import numpy as np

from julia.perf.engine.calibration import MARGIN_SD, MIN_RUNS_SUGGESTION, MIN_THRESHOLD, suggested


def test_a_threshold_clears_every_a_a_lower_bound_with_a_margin_and_says_what_it_catches() -> None:
    rng = np.random.default_rng(7)
    lows = list(np.exp(rng.normal(math.log(1.0), 0.03, 20)))  # intervals' lower bounds, identical sides
    figures = suggested(lows, [1.1, 1.2])
    assert figures is not None
    logs = np.log(lows)
    centre = np.median(logs)
    robust = math.exp(centre + MARGIN_SD * 1.4826 * np.median(np.abs(logs - centre)))
    assert figures["threshold"] == math.ceil(max(robust, max(lows) * 1.02, MIN_THRESHOLD) * 100) / 100
    assert figures["caught_scaled"]["1.2"] >= 0.9  # 1.0 x 1.2 clears ~1.1
    at_1_1 = sum(low * 1.1 > figures["threshold"] for low in lows) / len(lows)
    assert figures["caught_scaled"]["1.1"] == round(at_1_1, 3)  # counted from the same lower bounds
    assert figures["caught_scaled"]["1.1"] < figures["caught_scaled"]["1.2"]


def test_a_long_left_tail_does_not_raise_the_threshold() -> None:
    """Runs with a wide interval (a low lower bound) say nothing about a false failure."""
    steady = [0.97, 0.98, 0.99, 0.98, 0.97, 0.99, 0.98, 0.97, 0.98, 0.99]
    figures = suggested([*steady, 0.6, 0.62], [1.2])
    assert figures is not None
    assert figures["threshold"] == MIN_THRESHOLD


def test_too_few_runs_suggest_nothing() -> None:
    assert suggested([0.97] * (MIN_RUNS_SUGGESTION - 1), [1.2]) is None
