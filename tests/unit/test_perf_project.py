"""The engine measures whichever project perf.toml names (issue 37, point 8): a made-up project's
names, variables, databases, test folder and scale come out of the engine, and nothing julia-specific
leaks, neither into what it writes nor as a string literal in its sources."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from julia.perf.engine import comment, config, export, gate, placement, report, results, summary, turns
from julia.perf.engine.results import Bench, Run

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "julia" / "perf" / "engine"
JULIA_WORDS = re.compile(r"julia|doctor|m[ée]dic", re.IGNORECASE)

ACME = """
[project]
name = "acme"
command = "acme bench"
suite = "benchmarks"
scale = "tenants"
variables = "ACME_BENCH"
databases = "acme_bench"
sources = ["acme/"]

[paths]
root = ".."
budgets = "budgets.toml"
baselines = "baselines"
calibration = "calibration"
history = "history"
out = "out"

[ab]
turn_modules = ["acme/bench/turns.py"]
"""


@pytest.fixture
def acme(tmp_path: Path) -> config.Config:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "perf.toml").write_text(ACME)
    return config.load(tmp_path / "bench" / "perf.toml")


def test_a_made_up_projects_names_come_from_its_perf_toml(acme: config.Config) -> None:
    project = acme.project
    assert (project.name, project.command, project.suite, project.scale) == (
        "acme",
        "acme bench",
        "benchmarks",
        "tenants",
    )
    assert project.variable(turns.TURNS) == "ACME_BENCH_TURNS"
    assert project.variable(placement.SERVER_CPUS) == "ACME_BENCH_SERVER_CPUS"
    assert project.database("base") == "acme_bench_base"
    assert project.sources == ("acme/",)


def test_its_sides_read_their_own_variables(acme: config.Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_BENCH_SERVER_CPUS", "0,1,2,3,4,5,6")
    monkeypatch.setenv("ACME_BENCH_TOPOLOGY", "container")
    assert placement.cores(acme.project.variables) == 7
    stamp = results.stamp(
        root=REPO,
        project=acme.project,
        version="2.0",
        pg_major=18,
        pg_version="18.6",
        scale=50,
        origin="postgres: url, redis: url",
        injected=None,
        seed_summary={},
        topology="url",
    )
    assert stamp["tenants"] == 50
    assert stamp["acme_version"] == "2.0"
    assert stamp["machine_class"].endswith("-7cpu-pg18-container")
    assert not [key for key in stamp if JULIA_WORDS.search(key)]


def test_what_the_gate_writes_speaks_the_projects_words(acme: config.Config, tmp_path: Path) -> None:
    stamp = {
        "project": acme.project.said(),
        "machine_class": "x86_64-2cpu-pg18",
        "acme_version": "2.0",
        "tenants": 50,
        "git_commit": "abc1234",
        "postgres": "18.6",
    }
    run = Run(stamp)
    run.add(Bench("lookup", "queries", None, [1.0, 1.1, 0.9] * 20, {"pg_statements": 3}))
    budgets = gate.Budgets({"lookup": gate.Budget(ceiling_ms=0.5, counts=(("pg_statements", 2),))}, scale=50)
    verdicts = gate.judge(run, budgets)
    written = [
        report.terminal(verdicts, run),
        summary.markdown(run, verdicts, {}, ""),
        comment.markdown(run, verdicts, capacity="not run", link=None),
        str(export.document(run, verdicts)),
        report.render(run, verdicts, None, [], tmp_path / "out").page.read_text(),
    ]
    assert "acme bench gate FAILED" in written[0]
    assert "50 tenants" in written[0]
    assert written[2].startswith("<!-- acme-perf-gate -->")
    assert "'project': 'acme'" in written[3]
    for text in written:
        assert not JULIA_WORDS.search(text), text


def _docstrings(tree: ast.Module) -> set[int]:
    kinds = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    owners = [n for n in ast.walk(tree) if isinstance(n, kinds)]
    return {
        id(n.body[0].value)
        for n in owners
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def test_the_engines_sources_name_no_project_outside_comments_and_docstrings() -> None:
    """Imports are module paths, comments and docstrings are prose: what is left (string literals,
    names, attributes, arguments) is what the engine would do or write for any project."""
    found = []
    for path in sorted(ENGINE.glob("*.py")):
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            text = (
                node.value
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                else node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else node.arg
                if isinstance(node, ast.arg)
                else ""
            )
            if JULIA_WORDS.search(text):
                found.append(f"{path.name}:{getattr(node, 'lineno', '?')}: {text[:80]!r}")
    assert found == []
