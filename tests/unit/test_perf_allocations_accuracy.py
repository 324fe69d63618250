"""perf/allocations_accuracy.py's resumption (nothing measured here): the rounds a stopped calibration
kept in its figures file come back as they were measured, from today's file and from one written before
the rounds were kept in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.scripts import load_script


def _round(target: float, other: float) -> dict[str, Any]:
    return {
        "message_path_claude0ms": {
            "median_base": 112_000,
            "median": target,
            "min_base": 110_000,
            "min": target,
        },
        "query_buscar_vagas_warm": {"median_base": 3_600, "median": other, "min_base": 3_500, "min": other},
    }


AA = [_round(1.001, 1.0), _round(0.998, 1.02)]
INJECTED = [_round(1.105, 0.99), _round(1.108, 1.06)]


def _without_bases(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {name: {k: v for k, v in one.items() if not k.endswith("_base")} for name, one in r.items()}
        for r in rounds
    ]


def test_the_rounds_kept_in_the_figures_file_come_back_as_measured(tmp_path: Path) -> None:
    accuracy = load_script("allocations_accuracy")
    path = tmp_path / "figures.json"
    payload = {"aa_runs": 2, "injected_runs": 2, **accuracy.figures(AA, INJECTED)}
    path.write_text(json.dumps({**payload, "rounds": {"aa": AA, "injected": INJECTED}}))
    assert accuracy.kept_rounds(path) == (AA, INJECTED)


def test_a_file_written_before_the_rounds_were_kept_splits_back_into_its_rounds(tmp_path: Path) -> None:
    accuracy = load_script("allocations_accuracy")
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"aa_runs": 2, "injected_runs": 2, **accuracy.figures(AA, INJECTED)}))
    aa, injected = accuracy.kept_rounds(path)
    assert (aa, injected) == (_without_bases(AA), _without_bases(INJECTED))
    # The split rounds give the file's own counts back: the unchanged pairs of the injected rounds too.
    again = accuracy.figures(aa, injected)
    assert again["aa_runs_failed"] == accuracy.figures(AA, INJECTED)["aa_runs_failed"]
    assert again["benches"]["query_buscar_vagas_warm"]["median"]["aa_ratios"] == [1.0, 1.02, 0.99, 1.06]
