"""perf/rounds.py, the resumable rounds of perf/causes_accuracy.py and perf/allocations_accuracy.py
(nothing measured here): which rounds are still to do, interleaved and cut at --rounds, and both scripts'
shared options as `python perf/<script>.py` parses them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from julia.servers import Servers
from tests.support.scripts import PERF, load_script


def _calibration(path: Path, resume: bool = True, limit: int | None = None) -> Any:
    found = Servers("postgresql://127.0.0.1:1/x", "redis://127.0.0.1:1/0", "url", "url")  # never reached
    return load_script("rounds").Calibration(found, "x86_64-2cpu-pg18-url", path, resume, limit)


def test_the_rounds_still_to_do_alternate_their_kinds_from_where_the_file_stopped(tmp_path: Path) -> None:
    calibration = _calibration(tmp_path / "figures.json")
    todo = calibration.todo("causes", {"on": 4, "off": 2}, {"on": 1})
    assert list(todo) == [("off", 0), ("on", 1), ("off", 1), ("on", 2), ("on", 3)]


def test_rounds_stops_after_that_many_new_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calibration = _calibration(tmp_path / "figures.json", limit=2)
    assert list(calibration.todo("allocations", {"aa": 3, "injected": 3}, {"aa": 1, "injected": 0})) == [
        ("injected", 0),
        ("aa", 1),
    ]
    assert capsys.readouterr().err == "allocations: injected round 1\nallocations: aa round 2\n"


def test_resume_continues_only_a_file_that_exists(tmp_path: Path) -> None:
    path = tmp_path / "causes" / "figures.json"
    assert not _calibration(path).resumed
    load_script("rounds").write(path, {"benches": {}, "rounds": []})  # its folder made on the way
    assert _calibration(path).resumed
    assert not _calibration(path, resume=False).resumed


@pytest.mark.parametrize(
    ("script", "folder"), [("causes_accuracy", "causes"), ("allocations_accuracy", "allocations")]
)
def test_both_calibrations_take_the_shared_options(script: str, folder: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PERF / f"{script}.py"), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},  # argparse wraps its help at the terminal's width
            check=False,
        )

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    assert "--resume" in shown.stdout
    assert "--rounds ROUNDS" in shown.stdout
    assert f"default: calibration/{folder}/<machine class>.json" in shown.stdout
    refused = run("--rounds", "0")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].endswith("error: --rounds must be at least 1")
