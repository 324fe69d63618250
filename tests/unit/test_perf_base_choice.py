"""Which commit a run is judged against (julia.perf.engine.base_choice), on a real git repository built in a
temporary folder: main with three commits, a pull request branched from the first, GitHub's merge commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from julia.perf.engine import ab, base_choice


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _commit(root: Path, name: str) -> str:
    (root / name).write_text(name)
    _git(root, "add", name)
    _git(root, "commit", "-q", "-m", name)
    return _git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str | Path]:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "perf@example.com")
    _git(root, "config", "user.name", "perf")
    fork = _commit(root, "a")
    _git(root, "checkout", "-q", "-b", "feature")
    pr_head = _commit(root, "pr")
    _git(root, "checkout", "-q", "main")
    _commit(root, "b")
    main_tip = _commit(root, "c")
    return {"root": root, "fork": fork, "pr_head": pr_head, "main_tip": main_tip}


def test_an_explicit_base_wins(repo: dict[str, str | Path]) -> None:
    choice = base_choice.choose(Path(repo["root"]), "main~2", {"GITHUB_BASE_REF": "main"})
    assert choice == base_choice.BaseChoice("main~2", "--base main~2")


def test_a_push_to_main_is_judged_against_its_parent(repo: dict[str, str | Path]) -> None:
    root = Path(repo["root"])
    choice = base_choice.choose(root, None, {})
    assert choice.ref == _git(root, "rev-parse", "HEAD^")
    assert choice.why == "HEAD's parent (a push to main or a local run)"


def test_a_pull_request_is_judged_against_its_merge_base_not_main_tip(repo: dict[str, str | Path]) -> None:
    root = Path(repo["root"])
    _git(root, "checkout", "-q", "feature")
    choice = base_choice.choose(root, None, {"GITHUB_BASE_REF": "main"})
    assert choice.ref == repo["fork"]  # not main's tip: the PR is not charged for b and c
    assert choice.why == "merge-base with main (a pull request)"


def test_on_githubs_merge_commit_the_base_is_the_targets_tip_from_the_payload(
    repo: dict[str, str | Path], tmp_path: Path
) -> None:
    root = Path(repo["root"])
    _git(root, "checkout", "-q", "--detach", str(repo["main_tip"]))
    _git(root, "merge", "-q", "--no-ff", "-m", "merge", "feature")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"base": {"sha": repo["main_tip"]}}}))
    choice = base_choice.choose(root, None, {"GITHUB_BASE_REF": "main", "GITHUB_EVENT_PATH": str(event)})
    assert choice.ref == repo["main_tip"]


def test_a_target_missing_from_the_clone_says_so(repo: dict[str, str | Path]) -> None:
    choice = base_choice.choose(Path(repo["root"]), None, {"GITHUB_BASE_REF": "release"})
    assert choice == base_choice.BaseChoice(
        None, "no base: release's history is not in this clone (fetch-depth: 0?)"
    )


def test_a_shallow_clone_has_no_base_and_says_so_in_one_line(
    repo: dict[str, str | Path], tmp_path: Path
) -> None:
    shallow = tmp_path / "shallow"
    _git(tmp_path, "clone", "-q", "--depth", "1", Path(repo["root"]).as_uri(), str(shallow))
    choice = base_choice.choose(shallow, None, {})
    assert choice == base_choice.BaseChoice(None, base_choice.NO_HISTORY)
    assert "\n" not in choice.why
    assert ab.choose_base(shallow, choice.ref, choice.why) == (None, base_choice.NO_HISTORY)


def test_the_chosen_ref_is_resolved_and_the_why_kept(repo: dict[str, str | Path]) -> None:
    root = Path(repo["root"])
    commit, why = ab.choose_base(root, "HEAD^", "HEAD's parent (a push to main or a local run)")
    assert commit == _git(root, "rev-parse", "HEAD^")
    assert why == f"base {commit[:12]}: HEAD's parent (a push to main or a local run)"
    assert ab.choose_base(root, "nope", "x") == (
        None,
        "no base: nope is not in this clone's history (a shallow clone?)",
    )
