"""docker-compose.yml, the Dockerfile and the systemd units of docs/deploy.md describe processes that
exist: their julia commands parse, the API's health check is a real route and passes against a real
`julia serve`, and a Compose implementation accepts the file (`config`)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from julia.settings import Settings
from tests.docs.conftest import process_env
from tests.docs.markdown import DOCS, blocks
from tests.docs.test_runbook_commands import parses
from tests.support.processes import free_port

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _dockerfile_json(instruction: str) -> list[str]:
    """The exec-form array of CMD or HEALTHCHECK ... CMD (continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.startswith(instruction + " "))
    found: list[str] = yaml.safe_load(line[line.index("CMD [") + 4 :])
    return found


def test_compose_runs_api_worker_and_redis_with_postgres_external() -> None:
    services = _compose()["services"]
    assert set(services) == {"api", "worker", "redis"}
    for name in ("api", "worker"):
        service = services[name]
        assert service["env_file"] == ".env"
        assert service["command"][0] == "julia"
        parses(service["command"][1:])
        assert set(service.get("environment", {})) <= {n.upper() for n in Settings.model_fields}
    assert services["api"]["command"][1] == "serve"
    assert services["worker"]["command"] == ["julia", "worker"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]


def test_dockerfile_command_and_health_check_match_compose() -> None:
    api = _compose()["services"]["api"]
    assert ["julia", *_dockerfile_json("CMD")[1:]] == api["command"]
    assert ["CMD", *_dockerfile_json("HEALTHCHECK")] == api["healthcheck"]["test"]
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"


def _validator() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


def test_a_compose_implementation_accepts_the_file(tmp_path: Path) -> None:
    validator = _validator()
    if validator is None:
        message = "neither `docker compose` nor `docker-compose` (Debian: apt-get install docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must install one")  # a skip in CI would let the file rot
        pytest.skip(message)
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://julia:secret@db.example.com:5432/julia\n")
    result = subprocess.run(
        [*validator, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_systemd_units_run_julia_commands_that_parse() -> None:
    units = [b for b in blocks(DOCS / "deploy.md") if b.lang == "ini"]
    starts = [line for b in units for line in b.text.splitlines() if line.startswith("ExecStart=")]
    assert len(starts) >= 2
    for line in starts:
        argv = shlex.split(line.removeprefix("ExecStart="))
        assert Path(argv[0]).name == "julia", line
        parses(argv[1:])


def test_the_api_health_check_passes_against_julia_serve(docs_env: dict[str, str], tmp_path: Path) -> None:
    """The compose command, on a free loopback port, and its health check command, run as Docker would."""
    api = _compose()["services"]["api"]
    port = str(free_port())
    command = [port if a == "8000" else "127.0.0.1" if a == "0.0.0.0" else a for a in api["command"]]  # noqa: S104
    check = [a.replace("8000", port) for a in api["healthcheck"]["test"][1:]]
    check[0] = sys.executable if check[0] == "python" else check[0]
    env = process_env(docs_env)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", *command], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(check, capture_output=True, timeout=10, check=False).returncode != 0:
            assert serve.poll() is None, f"julia serve exited: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.2)
    finally:
        serve.terminate()
        serve.wait(timeout=15)
