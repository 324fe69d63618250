"""The resolver: URL first, then Docker, then embedded; readable failure; no orphans left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import servers
from julia.errors import ServicesUnavailable
from julia.perf.engine import ab


def test_urls_are_used_as_given_and_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> bool:
        raise AssertionError("Docker must not even be asked when both URLs are set")

    monkeypatch.setattr(servers, "docker_answers", forbidden)
    with servers.resolve("postgresql://u@db.example/julia", "redis://cache.example:6379/0") as found:
        assert (found.database_origin, found.redis_origin) == ("url", "url")
        assert found.database_url == "postgresql://u@db.example/julia"
        assert found.redis_url == "redis://cache.example:6379/0"


def test_docker_is_chosen_when_an_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # No Docker engine exists on these machines: the containers are stood in for, the decision is real.
    @contextlib.contextmanager
    def container(url: str) -> Iterator[str]:
        yield url

    monkeypatch.setattr(servers, "docker_answers", lambda: True)
    monkeypatch.setattr(servers, "_docker_postgres", lambda: container("postgresql://c/pg"))
    monkeypatch.setattr(servers, "_docker_redis", lambda: container("redis://c/0"))
    with servers.resolve() as found:
        assert (found.database_origin, found.redis_origin) == ("docker", "docker")


def test_docker_absent_here_is_a_plain_no() -> None:
    if Path("/var/run/docker.sock").exists() or os.environ.get("DOCKER_HOST"):
        pytest.skip("a Docker engine may exist on this machine")
    assert servers.docker_answers() is False


async def test_embedded_servers_are_real(services: servers.Servers) -> None:
    if services.database_origin != "embedded":
        pytest.skip(f"servers came from {services.database_origin}")
    conn = await asyncpg.connect(services.database_url)
    try:
        version = await conn.fetchval("SHOW server_version_num")
        preload = await conn.fetchval("SHOW shared_preload_libraries")
    finally:
        await conn.close()
    assert int(version) >= 180000
    assert "pg_stat_statements" in preload
    client = aioredis.Redis.from_url(services.redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()


async def test_another_redis_database_on_the_same_server(services: servers.Servers) -> None:
    # Each perf side and the capacity run use a database of their own; for the embedded Valkey that is
    # unix://path?db=N, which redis-py 8.2 reads only with the "//" urlunsplit drops when there is no host.
    url = ab.with_redis_db(services.redis_url, 7)
    assert url.startswith(("redis://", "unix://"))
    client = aioredis.Redis.from_url(url)
    try:
        assert (await client.client_info())["db"] == 7
    finally:
        await client.aclose()


def test_nothing_available_fails_in_one_readable_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(servers, "docker_answers", lambda: False)
    monkeypatch.setattr(servers, "_pg_bin", lambda name: str(tmp_path / "missing" / name))
    with pytest.raises(ServicesUnavailable) as caught, servers.resolve(None, "redis://unused"):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no Postgres: DATABASE_URL is unset, no Docker engine answers, and embedded")


OWNER = """
import sys, time
from julia import servers
with servers.embedded_postgres() as dsn:
    print(dsn, flush=True)
    time.sleep(600)
"""


def test_servers_of_a_killed_process_are_reaped() -> None:
    with subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        dsn = child.stdout.readline().strip()
        workdir = Path(dsn.split("host=")[1])
        postmaster = int((workdir / "data" / "postmaster.pid").read_text().split()[0])
        child.send_signal(signal.SIGKILL)  # no chance to stop its server
    assert _alive(postmaster)

    servers.reap_orphans()

    deadline = time.monotonic() + 30
    while _alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(postmaster)
    assert not workdir.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (already exited, not yet reaped by its parent) counts as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False
