"""The search of `julia perf find` (julia.perf.engine.bisect) with a fake A/B oracle: no timing, only the
logic. The oracle knows each commit's true time and answers like the gate: regressed past the threshold,
ok under it, inconclusive or failed where the test says so."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from julia.perf.engine import find
from julia.perf.engine.bisect import Measured, Oracle, bisect, budget
from julia.perf.engine.errors import PerfError

THRESHOLD = 1.10
COMMITS = [f"c{i:02d}" for i in range(1, 33)]  # GOOD is c00
GOOD = "c00"


def oracle(
    times: dict[str, float],
    inconclusive: Callable[[str, str, int], bool] = lambda head, base, attempt: False,
    failing: frozenset[str] = frozenset(),
) -> tuple[Oracle, list[tuple[str, str, int]]]:
    calls: list[tuple[str, str, int]] = []

    def measure(head: str, base: str, attempt: int) -> Measured:
        calls.append((head, base, attempt))
        if head in failing:
            return Measured("failed", note="migration failed")
        ratio = times[head] / times[base]
        if inconclusive(head, base, attempt):
            return Measured("inconclusive", ratio, ratio / 1.1, ratio * 1.1)
        return Measured("regressed" if ratio > THRESHOLD else "ok", ratio, ratio / 1.02, ratio * 1.02)

    return measure, calls


def slowed_at(culprit: int, factor: float = 1.2) -> dict[str, float]:
    return {f"c{i:02d}": factor if i >= culprit else 1.0 for i in range(33)}


@pytest.mark.parametrize("culprit", range(1, 33))
def test_the_culprit_is_named_and_confirmed_within_the_budget(culprit: int) -> None:
    measure, calls = oracle(slowed_at(culprit))
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit == f"c{culprit:02d}"
    assert found.confirmation is not None
    assert found.confirmation.ratio == pytest.approx(1.2)
    assert calls[-1] == (f"c{culprit:02d}", f"c{culprit - 1:02d}", 1)  # confirmed against its parent
    assert len(calls) <= budget(len(COMMITS)) == math.ceil(math.log2(32)) + 3


def test_unchanged_code_names_none_after_one_run() -> None:
    measure, calls = oracle(slowed_at(99))
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit is None
    assert found.why.startswith("BAD is not slower than GOOD beside it: 1.000x")
    assert calls == [("c32", "c00", 1)]


def test_an_inconclusive_step_is_run_again_with_more_blocks() -> None:
    measure, calls = oracle(
        slowed_at(20), inconclusive=lambda head, base, attempt: head == "c16" and attempt == 1
    )
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit == "c20"
    assert ("c16", "c00", 1) in calls
    assert ("c16", "c00", 2) in calls
    assert len(calls) <= budget(len(COMMITS))


def test_commits_that_do_not_build_are_skipped_like_git_bisects_125() -> None:
    measure, calls = oracle(slowed_at(20), failing=frozenset({"c16", "c24"}))
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit == "c20"
    tested = [head for head, _, _ in calls]
    assert "c16" in tested  # tried, failed, then a neighbour of the middle
    assert "c15" in tested or "c17" in tested


def test_a_culprit_hidden_among_skipped_commits_is_a_list_of_suspects() -> None:
    measure, _ = oracle(slowed_at(20), failing=frozenset({"c19", "c20"}))
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit is None
    # c18 is as fast as GOOD and c21 slower; c21 is as fast as its parent c20, which cannot be judged:
    # c19 or c20.
    assert found.suspects == ["c19", "c20"]


def test_a_culprit_beside_a_commit_that_stays_inconclusive_is_named_against_its_parent() -> None:
    """A culprit trial on the 2-core machine at load 5 (seed 3, 2026-12-07): the search narrowed the
    culprit to c16 after c15 stayed inconclusive twice against c14; c16 measured against c15 names it."""
    measure, calls = oracle(
        slowed_at(16), inconclusive=lambda head, base, attempt: (head, base) == ("c15", "c14")
    )
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit == "c16"
    assert calls[-1] == ("c16", "c15", 1)
    assert "skipped commits had left the culprit among 2" in found.why


def test_an_unconfirmed_culprit_is_not_named() -> None:
    """A false regression in the first run (unchanged code): the search ends on a commit that its parent
    does not confirm."""
    times = slowed_at(99)

    def measure(head: str, base: str, attempt: int) -> Measured:
        if (head, base) == ("c32", "c00"):  # the false failure
            return Measured("regressed", 1.12, 1.101, 1.14)
        return Measured("ok", times[head] / times[base], 0.98, 1.02)

    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit is None
    assert "not confirmed against its parent c31" in found.why


def test_an_inconclusive_first_check_names_none() -> None:
    measure, calls = oracle(slowed_at(5), inconclusive=lambda head, base, attempt: True)
    found = bisect(COMMITS, GOOD, measure)
    assert found.culprit is None
    assert len(calls) == 2


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_the_commits_bisected_are_the_first_parent_line(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
        _git(tmp_path, "add", name)
        _git(tmp_path, "-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-q", "-m", name)
    _git(tmp_path, "checkout", "-q", "-b", "side", "HEAD~1")
    (tmp_path / "s").write_text("s")
    _git(tmp_path, "add", "s")
    _git(tmp_path, "-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-q", "-m", "s")
    _git(tmp_path, "checkout", "-q", "main")
    _git(
        tmp_path,
        "-c",
        "user.name=p",
        "-c",
        "user.email=p@example.com",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "m",
        "side",
    )
    good, commits = find.first_parent(tmp_path, "HEAD~2", "HEAD")
    assert good == _git(tmp_path, "rev-parse", "HEAD~2")
    assert commits == [_git(tmp_path, "rev-parse", "HEAD~1"), _git(tmp_path, "rev-parse", "HEAD")]
    with pytest.raises(PerfError, match="not an ancestor"):
        find.first_parent(tmp_path, "side", "HEAD~1")
    with pytest.raises(PerfError, match="nope is not a commit"):
        find.first_parent(tmp_path, "nope", "HEAD")


def test_the_ab_oracle_retries_with_more_samples_and_skips_a_commit_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oracle's own decisions, with the A/B run itself replaced (what it measures is tested elsewhere)."""
    from julia.perf.engine import ab
    from julia.perf.engine.config import load

    calls: list[list[str]] = []

    def prepare(head: Path, commit: str, out: Path) -> ab.Side:
        return ab.Side("base", tmp_path / commit, "python", None)

    def run(*args: object, **kwargs: object) -> object:
        calls.append(list(args[2]))  # type: ignore[call-overload]
        raise PerfError("the head's perf run failed (its output is above)")

    monkeypatch.setattr(ab, "prepare_base", prepare)
    monkeypatch.setattr(ab, "run", run)
    config = load(Path(__file__).resolve().parents[2] / "perf" / "perf.toml")
    oracle = find.ABOracle(config, object(), ["--doctors=10"], retry_args=["--samples=4000"], bench="b")  # type: ignore[arg-type]
    assert oracle("c1", "c0", 1).outcome == "failed"
    assert oracle("c1", "c0", 2).text() == "failed (the head's perf run failed (its output is above))"
    assert calls == [["--doctors=10"], ["--doctors=10", "--samples=4000"]]
    assert oracle.runs == 2
