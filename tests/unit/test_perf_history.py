"""The history store (julia.perf.engine.history): what one run on main appends, that re-judging does not
append twice, and that the CI scripts publish it to a branch of its own and a fresh clone reads it back
(a real bare repository as the remote)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from julia.perf.engine import history
from julia.perf.engine.gate import judge
from tests.unit.test_perf_report import BUDGETS, LONG_PLAN, _runs

ROOT = Path(__file__).resolve().parents[2]


def test_an_entry_keeps_the_same_run_ratio_both_commits_counters_and_topology() -> None:
    head, _ = _runs()
    verdicts = judge(head, BUDGETS)
    line = history.entry(head, verdicts)
    assert line["version"] == history.VERSION
    assert line["git_commit"] == "abc1234"
    assert line["base_commit"] == "def5678900"
    assert line["machine_class"] == "x86_64-2cpu-pg18"
    assert set(line["servers"]) == {"origin", "postgres"}
    x = line["benches"]["query_x_warm"]
    verdict = next(v for v in verdicts if v.name == "query_x_warm")
    assert verdict.ab is not None
    assert x["ab"]["ratio"] == round(verdict.ab.ratio, 4)
    assert x["ab"]["low"] < x["ab"]["ratio"] < x["ab"]["high"]
    assert x["ab"]["outcome"] == "regressed"
    # Deterministic costs only: no query id, no clock reading, the plan as one string.
    assert x["counters"] == {
        "rows": 1,
        "buffers": 3,
        "pg_statements": 1,
        "pg_pool_resets": 0,
        "redis_commands": 0,
        "units_counted": 30,
        "plan": LONG_PLAN,
    }
    assert "samples_ms" not in json.dumps(line)  # raw samples stay in the run's artifact
    json.dumps(line)  # every value is plain JSON


def test_append_writes_once_per_run_and_never_an_injected_one(tmp_path: Path) -> None:
    head, _ = _runs()
    verdicts = judge(head, BUDGETS)
    assert history.current(tmp_path, head, verdicts)[-1]["git_commit"] == "abc1234"
    assert not list(tmp_path.iterdir())  # current() writes nothing
    history.append(tmp_path, head, verdicts)
    history.append(tmp_path, head, verdicts)  # re-judged: not twice
    path = history.history_path(tmp_path, "x86_64-2cpu-pg18")
    assert len(history.load(path)) == 1
    head.stamp = dict(head.stamp, injected="sleep", started_at="2026-12-01T00:00:00+00:00")
    history.append(tmp_path, head, verdicts)
    assert len(history.load(path)) == 1


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _clone(remote: Path, into: Path) -> Path:
    _git(remote.parent, "clone", "-q", str(remote), str(into))
    _git(into, "config", "user.email", "perf@example.com")
    _git(into, "config", "user.name", "perf")
    (into / ".ci").mkdir(exist_ok=True)
    for script in ("fetch-perf-history", "publish-perf-history"):
        shutil.copy(ROOT / ".ci" / script, into / ".ci" / script)
    return into


def test_the_ci_scripts_publish_to_a_branch_and_a_fresh_clone_fetches_it(tmp_path: Path) -> None:
    remote = tmp_path / "origin.git"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = tmp_path / "seed"
    seed.mkdir()
    _git(seed, "init", "-q", "-b", "main")
    (seed / "reports" / "history").mkdir(parents=True)
    (seed / "reports" / "history" / "x.jsonl").write_text('{"git_commit": "old"}\n')
    _git(seed, "add", ".")
    _git(seed, "-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-q", "-m", "seed")
    _git(seed, "push", "-q", str(remote), "main")

    first = _clone(remote, tmp_path / "first")
    none_yet = subprocess.run(
        [".ci/fetch-perf-history"], cwd=first, capture_output=True, text=True, check=True
    )
    assert "no perf-history branch" in none_yet.stdout
    with (first / "reports" / "history" / "x.jsonl").open("a") as file:
        file.write('{"git_commit": "run1"}\n')
    subprocess.run([".ci/publish-perf-history"], cwd=first, capture_output=True, text=True, check=True)
    assert _git(remote, "ls-tree", "--name-only", "perf-history") == "x.jsonl"  # the JSONL files only

    second = _clone(remote, tmp_path / "second")
    subprocess.run([".ci/fetch-perf-history"], cwd=second, capture_output=True, text=True, check=True)
    lines = (second / "reports" / "history" / "x.jsonl").read_text().splitlines()
    assert [json.loads(line)["git_commit"] for line in lines] == ["old", "run1"]
    with (second / "reports" / "history" / "x.jsonl").open("a") as file:
        file.write('{"git_commit": "run2"}\n')
    subprocess.run([".ci/publish-perf-history"], cwd=second, capture_output=True, text=True, check=True)
    assert _git(remote, "rev-list", "--count", "perf-history") == "2"  # one commit per run, appended
