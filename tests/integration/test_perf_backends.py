"""julia.perf.engine.placement.Backends against a real local Postgres: the perf databases' backends pinned."""

from __future__ import annotations

import os

import asyncpg
import pytest

from julia import servers
from julia.perf.engine import placement


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
async def test_backends_of_the_named_database_are_pinned(services: servers.Services) -> None:
    cpus = {min(os.sched_getaffinity(0))}
    backends = await placement.Backends.open(services.database_url, ["postgres"], cpus, ["julia serve"])
    if backends is None:
        pytest.skip("the session's Postgres is not on this machine")
    other = await asyncpg.connect(services.database_url)
    server = await asyncpg.connect(services.database_url, server_settings={"application_name": "julia serve"})
    try:
        await backends.pin_new()
        assert os.sched_getaffinity(other.get_server_pid()) == cpus
        assert os.sched_getaffinity(server.get_server_pid()) != cpus  # a server's backend stays free
    finally:
        await other.close()
        await server.close()
        await backends.close()
