"""julia.perf.engine.autovacuum against a real Postgres: off inside a run that owns the server, back to
the server's setting after, and untouched on a server the run does not own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from julia import servers
from julia.perf.engine import autovacuum
from tests.espera import ate


def _autovacuum_is(dsn: str, expected: str) -> Callable[[], Awaitable[bool]]:
    """The setting as a new backend sees it (pg_reload_conf only signals the postmaster)."""

    async def check() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return str(await conn.fetchval("SHOW autovacuum")) == expected
        finally:
            await conn.close()

    return check


async def test_off_inside_an_owned_run_and_back_after(services: servers.Services) -> None:
    dsn = services.database_url
    await ate(_autovacuum_is(dsn, "on"))
    async with autovacuum.paused(dsn, owned=True) as paused:
        assert paused
        await ate(_autovacuum_is(dsn, "off"))
    await ate(_autovacuum_is(dsn, "on"))


async def test_a_server_the_run_does_not_own_is_left_alone(services: servers.Services) -> None:
    async with autovacuum.paused(services.database_url, owned=False) as paused:
        assert not paused
        assert await _autovacuum_is(services.database_url, "on")()
