"""The servers' own C clients on the floors' work (julia.perf.engine.native), against the real servers."""

from __future__ import annotations

import redis.asyncio as aioredis

from julia import servers
from julia.perf.engine import native


def test_pgbench_times_select_1_on_the_server(services: servers.Servers) -> None:
    mean = native.pgbench_select1_mean_ms(services.database_url, transactions=200)
    assert mean is not None
    assert mean > 0


async def test_valkey_cli_times_a_get_on_the_server(services: servers.Servers, redis: aioredis.Redis) -> None:
    await redis.set("julia:test:native", b"x" * 64)
    mean = native.valkey_cli_get_mean_ms(services.redis_url, "julia:test:native", calls=200)
    assert mean is not None
    assert mean >= 0


def test_a_client_that_cannot_connect_gives_no_figure() -> None:
    assert native.pgbench_select1_mean_ms("postgresql://nobody@/x?host=/nonexistent", 10) is None
    assert native.valkey_cli_get_mean_ms("unix:///nonexistent/valkey.sock?db=3", "k", calls=10) is None


def test_a_unix_url_becomes_socket_and_db_options() -> None:
    assert native._cli_target("unix:///run/v.sock?db=2") == ["-s", "/run/v.sock", "-n", "2"]
    assert native._cli_target("redis://localhost:6379/1") == ["-u", "redis://localhost:6379/1"]
