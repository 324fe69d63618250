"""perf/perf.toml: found explicitly or above the working directory, never guessed; and the base's turn
protocol recognised where old and new checkouts keep it."""

from __future__ import annotations

from pathlib import Path

import pytest

from julia.perf.engine import ab, config
from julia.perf.engine.errors import PerfError

REPO = Path(__file__).resolve().parents[2]


def test_the_config_is_found_from_any_folder_of_the_checkout() -> None:
    found = config.find(start=REPO / "docs")
    assert found.path == REPO / "perf" / "perf.toml"
    assert found.root == REPO
    assert found.budgets == REPO / "perf" / "budgets.toml"
    assert found.baselines.is_dir()
    assert found.calibration.is_dir()
    assert found.results == REPO / "reports" / "out" / "results.json"


def test_outside_a_checkout_it_says_so_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(PerfError, match="--config") as caught:
        config.find(start=tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(PerfError, match="no perf config"):
        config.find(tmp_path / "perf.toml")


def test_a_file_that_is_not_a_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "perf.toml").write_text("[paths]\nbudgets = 'b.toml'\n")
    with pytest.raises(PerfError, match="not a perf config"):
        config.find(tmp_path / "perf.toml")


@pytest.mark.parametrize("module", ["julia/perf/turnos.py", "julia/perf/engine/turns.py"])
def test_a_base_speaks_turns_in_the_old_layout_and_the_new(tmp_path: Path, module: str) -> None:
    modules = config.find(start=REPO).turn_modules
    assert not ab.speaks_turns(tmp_path, modules)
    (tmp_path / module).parent.mkdir(parents=True)
    (tmp_path / module).write_text("PROTOCOL = 1\n")
    assert ab.speaks_turns(tmp_path, modules)
