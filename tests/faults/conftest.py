"""The fault suite's servers and system: `nox -s faults` (or `pytest tests/faults -m faults`); the default
`pytest` run leaves it out (marker `faults`, deselected in pyproject's addopts). `--long` runs the
fuzzer's 10,000 bodies instead of 1,000."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import db, servers
from julia.testing import control
from tests.faults.system import System

Build = Callable[..., contextlib.AbstractAsyncContextManager[tuple[System, asyncpg.Pool]]]

# Short enough that a scenario's retries and leases play out in seconds, not minutes.
BASE_ENVIRONMENT = {
    "QUEUE_LEASE_S": "3",
    "ANTHROPIC_TIMEOUT_S": "5",
    "ANTHROPIC_MAX_RETRIES": "2",
    "EVOLUTION_TIMEOUT_S": "3",
    "EVOLUTION_RATE_PER_S": "100",
    # Baileys' typing delay (1.5 s) is not what these scenarios are about: it kept a send handed to
    # Evolution before a close arriving after it. tests/service/test_channel.py tests it. The hourly and
    # daily most stay on: a closed connection's refused tries no longer count (julia/worker/quota.py).
    "EVOLUTION_TYPING_DELAY_MS": "0",
    "MAX_WORKERS": "8",
    "JULIA_MODEL": "claude-sonnet-4-6",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="fault suite: the fuzzer's long run (10,000 bodies)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[tuple[str, Path]]:
    """An embedded Postgres of this suite alone (it is stopped and restarted under load)."""
    with servers.embedded_postgres() as dsn:
        yield dsn, Path(dsn.split("host=", 1)[1])


@pytest.fixture(scope="session")
def own_valkey() -> Iterator[Any]:
    with servers.embedded_valkey() as valkey:
        yield valkey


@pytest.fixture
def build(
    own_postgres: tuple[str, Path], own_valkey: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Build:
    """`async with montar(ambiente={...}, falsos={...}) as (sistema, pool)`: a fresh database, an empty
    Valkey, the fakes, `julia serve` and `julia worker` running; all stopped at the end."""
    dsn_admin, pg_dir = own_postgres

    @contextlib.asynccontextmanager
    async def _build(
        *,
        ambiente: dict[str, str] | None = None,
        fake_servers: dict[str, Any] | None = None,
        worker: bool = True,
    ) -> AsyncIterator[tuple[System, asyncpg.Pool]]:
        nome = "faults_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
        dsn = await db.fresh_database(dsn_admin, nome)
        # Durable as in production: the test server runs with synchronous_commit off for speed, and an
        # immediate stop would then lose commits already acknowledged (a loss that is not julia's).
        admin = await db.connect(dsn_admin)
        try:
            await admin.execute(f'ALTER DATABASE "{nome}" SET synchronous_commit = on')
        finally:
            await admin.close()
        redis_url = f"unix://{own_valkey.socket_file}"
        clean = aioredis.Redis.from_url(redis_url)
        await clean.flushdb()
        await clean.aclose()
        with control.start(fake_servers) as fakes:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("EVOLUTION_", "ANTHROPIC_", "CHATWOOT_"))
            }
            env.update(
                BASE_ENVIRONMENT,
                DATABASE_URL=dsn,
                REDIS_URL=redis_url,
                **fakes.ambiente(),
                **(ambiente or {}),
            )
            system = System(pg_dir, own_valkey, dsn, redis_url, fakes, tmp_path, env)
            # A pool that outlives a Postgres restart: asyncpg replaces broken connections on acquire.
            pool = await db.create_pool(dsn, min_size=1, max_size=4)
            try:
                await system.start_serve()
                if worker:
                    system.start_worker()
                    await system.warm_up()
                yield system, pool
            finally:
                system.stop_processes()
                await pool.close()

    return _build
