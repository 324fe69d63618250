"""perf/history_trials.py's branches (nothing measured here): the creep's commits each a step slower than
its parent, the culprit's one slow commit, in a real clone of this checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.scripts import load_script


def _slowdown_line(clone: Path, sha: str) -> str:
    text = subprocess.run(
        ["git", "show", f"{sha}:perf/test_queries.py"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    return next(line.strip() for line in text.splitlines() if "slowdown=" in line)


def test_the_creep_branch_slows_one_query_a_step_more_each_commit(tmp_path: Path) -> None:
    trials = load_script("history_trials")
    clone = trials.make_clone(tmp_path / "clone")
    made = trials.creep_branch(clone, 3, 1.03, "buscar_medico_por_telefone")
    assert len(made) == 3
    assert _slowdown_line(clone, made[0]) == (
        'slowdown=1.03 if query.name == "buscar_medico_por_telefone" else perf.slowdown,  # trial'
    )
    assert _slowdown_line(clone, made[2]).startswith(f"slowdown={1.03**3!r} if")
    parent = subprocess.run(
        ["git", "rev-parse", f"{made[0]}^"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert _slowdown_line(clone, parent) == "slowdown=perf.slowdown,"


def test_the_culprit_branch_has_one_slow_commit_and_markers_around_it(tmp_path: Path) -> None:
    trials = load_script("history_trials")
    clone = trials.make_clone(tmp_path / "clone")
    made = trials.culprit_branch(clone, 5, 1.2, "buscar_medico_por_telefone", 3)
    lines = [_slowdown_line(clone, sha) for sha in made]
    assert lines[:2] == ["slowdown=perf.slowdown,"] * 2
    assert all(line.startswith("slowdown=1.2 if") for line in lines[2:])
    changed = subprocess.run(
        ["git", "diff", "--name-only", f"{made[2]}^", made[2]],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert changed == ["perf/test_queries.py", "perf/trial-marker.txt"]
