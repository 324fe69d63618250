"""julia.perf.engine.placement.Backends against a real local Postgres: the perf databases' backends pinned,
and only when they are processes of this pid namespace."""

from __future__ import annotations

import os

import asyncpg
import pytest

from julia import servers
from julia.perf.context import PROJECT
from julia.perf.engine import placement


async def test_the_sessions_own_postgres_backends_are_seen(services: servers.Servers) -> None:
    """The embedded server (or any local one) runs in this pid namespace: its backend pid is ours."""
    if not placement.is_local(services.database_url):
        pytest.skip("the session's Postgres is not on this machine")
    conn = await asyncpg.connect(services.database_url)
    try:
        assert await placement.sees_backend(conn)
    finally:
        await conn.close()


@pytest.mark.skipif(
    placement.usable_cpus() is None or placement.cores(PROJECT.variables) < 2,
    reason="needs CPU affinity and two CPUs",
)
async def test_backends_of_the_named_database_are_pinned(services: servers.Servers) -> None:
    cpus = frozenset({min(os.sched_getaffinity(0))})
    backends, why = await placement.Backends.open(services.database_url, ["postgres"], cpus, ["julia serve"])
    if backends is None:
        pytest.skip(why)
    other = await asyncpg.connect(services.database_url)
    server = await asyncpg.connect(services.database_url, server_settings={"application_name": "julia serve"})
    try:
        await backends.pin_new()
        assert os.sched_getaffinity(other.get_server_pid()) == cpus
        assert os.sched_getaffinity(server.get_server_pid()) != cpus  # a server's backend stays free
        assert backends.pinned >= 1  # pins made: ours, and the session's other connections
        assert f"{backends.pinned} Postgres backends pinned to CPU {min(cpus)}" in backends.said()
    finally:
        await other.close()
        await server.close()
        await backends.close()


async def test_a_backend_gone_before_its_pin_is_not_counted(services: servers.Servers) -> None:
    """The log says pins made: a pid that is no longer a postgres process here is seen, not pinned."""
    if (
        not placement.is_local(services.database_url)
        or placement.usable_cpus() is None
        or placement.cores(PROJECT.variables) < 2
    ):
        pytest.skip("needs a local Postgres and two CPUs")
    backends, why = await placement.Backends.open(
        services.database_url, ["julia_no_such_database"], frozenset({0}), []
    )
    assert backends is not None, why
    try:
        await backends.pin_new()
        assert backends.pinned == 0
        assert not placement._pin_backend(2**22 + 1, frozenset({0}))  # no such process
    finally:
        await backends.close()
