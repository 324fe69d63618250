"""`julia perf changes` (julia.perf.engine.changes) on histories built here with known changes and noise: a
step, a slow creep whose every link passes the gate, unchanged code, counters and a plan that moved."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from julia.cli import main
from julia.perf.engine import changes

SE = 0.01  # each link's log standard error: a 95% interval of about +-2%, as julia's warm queries measure


def history(
    factors: list[float], seed: int = 1, counters: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One line per commit c1..cN, each against its parent, with its true factor times noise of SE."""
    rng = np.random.default_rng(seed)
    lines = []
    for i, factor in enumerate(factors, start=1):
        ratio = factor * math.exp(rng.normal(0, SE))
        half = math.exp(changes.Z95 * SE)
        bench: dict[str, Any] = {
            "ab": {"ratio": ratio, "low": ratio / half, "high": ratio * half, "outcome": "ok"},
            "counters": counters[i - 1] if counters else {"rows": 1},
        }
        lines.append({"git_commit": f"c{i}", "base_commit": f"c{i - 1}", "benches": {"query_warm": bench}})
    return lines


def test_a_step_is_listed_at_its_commit_with_its_size_and_confidence() -> None:
    lines = history([1.0] * 20 + [1.2] + [1.0] * 19)
    found, drifts = changes.report(lines)
    assert [(c.kind, c.after_commit, c.commit) for c in found] == [("step", "c20", "c21")]
    assert found[0].after == pytest.approx(1.2, rel=0.04)
    assert found[0].confidence > 0.999
    assert drifts[0].product < changes.DRIFT_BUDGET  # the step is 20 commits back, outside the last 12


def test_a_creep_of_twelve_3pc_commits_is_past_the_drift_budget_while_each_link_is_small() -> None:
    lines = history([1.0] * 28 + [1.03] * 12)
    chain = changes.links(lines, "query_warm")
    assert all(link.ratio < 1.06 for link in chain)  # no single commit anywhere near a 1.05-1.16 gate
    found, drifts = changes.report(lines)
    (drift,) = drifts
    assert drift.over
    assert drift.product == pytest.approx(1.03**12, rel=0.05)
    assert drift.low > 1.0
    assert (drift.first, drift.last, drift.links) == ("c29", "c40", 12)
    rates = [c for c in found if c.kind == "rate"]
    assert rates
    starts = [c for c in rates if c.commit in {f"c{i}" for i in range(27, 33)}]  # where the creep starts
    assert starts
    assert starts[0].after == pytest.approx(1.03, abs=0.01)
    assert "past 1.15x" in changes.text(found, drifts, len(lines), changes.DRIFT_BUDGET)


def test_unchanged_code_has_few_false_changes_and_no_drift() -> None:
    """20 histories of 60 unchanged commits: Otava's windows and the per-link tests each cost a few false
    changes (here 6 in 1,200 commits: 5 rates, 1 step); the drift check none."""
    false = 0
    for seed in range(20):
        found, drifts = changes.report(history([1.0] * 60, seed=seed))
        false += len(found)
        assert not drifts[0].over
    assert false / (20 * 60) * 100 <= 1.0  # per 100 commits


def test_counters_and_plans_that_moved_are_listed_where_they_moved() -> None:
    counters = [
        {"pg_statements": 2 if i >= 25 else 1, "plan": "Index Scan" if i < 30 else "Seq Scan"}
        for i in range(40)
    ]
    found = changes.counter_changes(history([1.0] * 40, counters=counters), "query_warm")
    assert [(c.kind, c.series, c.after_commit, c.commit) for c in found] == [
        ("counter", "query_warm: pg_statements", "c25", "c26"),
        ("plan", "query_warm: plan", "c30", "c31"),
    ]
    assert found[0].describe() == "1 -> 2"


def test_otava_brings_none_of_its_clis_clients() -> None:
    """julia installs Otava without its dependencies (noxfile.py): the modules it uses need only numpy and
    scipy."""
    clients = "('google', 'slack_sdk', 'pg8000', 'requests')"
    code = f"import sys, otava.analysis; print(sorted(m for m in {clients} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_reads_the_history_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    lines = history([1.0] * 28 + [1.03] * 12)
    (folder / "x86_64-2cpu-pg18.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["perf", "changes", "--history", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("x86_64-2cpu-pg18: 40 runs in the history")
    assert "query_warm: " in out
    assert "over 12 commits c29..c40: past 1.15x" in out
    (folder / "other.jsonl").write_text("")
    assert main(["perf", "changes", "--history", str(folder), "--machine-class", "nope"]) == 1
