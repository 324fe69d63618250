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
from julia.testing import controle
from tests.faults.sistema import Sistema

Montar = Callable[..., contextlib.AbstractAsyncContextManager[tuple[Sistema, asyncpg.Pool]]]

# Short enough that a scenario's retries and leases play out in seconds, not minutes.
AMBIENTE_BASE = {
    "QUEUE_LEASE_S": "3",
    "ANTHROPIC_TIMEOUT_S": "5",
    "ANTHROPIC_MAX_RETRIES": "2",
    "EVOLUTION_TIMEOUT_S": "3",
    "EVOLUTION_RATE_PER_S": "100",
    # Baileys' typing delay (1.5 s) is not what these scenarios are about: it kept a send handed to
    # Evolution before a close arriving after it. tests/service/test_canal.py tests it. The hourly and
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
def postgres_proprio() -> Iterator[tuple[str, Path]]:
    """An embedded Postgres of this suite alone (it is stopped and restarted under load)."""
    with servers.embedded_postgres() as dsn:
        yield dsn, Path(dsn.split("host=", 1)[1])


@pytest.fixture(scope="session")
def valkey_proprio() -> Iterator[Any]:
    with servers.embedded_valkey() as valkey:
        yield valkey


@pytest.fixture
def montar(
    postgres_proprio: tuple[str, Path], valkey_proprio: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Montar:
    """`async with montar(ambiente={...}, falsos={...}) as (sistema, pool)`: a fresh database, an empty
    Valkey, the fakes, `julia serve` and `julia worker` running; all stopped at the end."""
    dsn_admin, pg_dir = postgres_proprio

    @contextlib.asynccontextmanager
    async def _montar(
        *, ambiente: dict[str, str] | None = None, falsos: dict[str, Any] | None = None, worker: bool = True
    ) -> AsyncIterator[tuple[Sistema, asyncpg.Pool]]:
        nome = "faults_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
        dsn = await db.fresh_database(dsn_admin, nome)
        # Durable as in production: the test server runs with synchronous_commit off for speed, and an
        # immediate stop would then lose commits already acknowledged (a loss that is not julia's).
        admin = await db.connect(dsn_admin)
        try:
            await admin.execute(f'ALTER DATABASE "{nome}" SET synchronous_commit = on')
        finally:
            await admin.close()
        redis_url = f"unix://{valkey_proprio.socket_file}"
        limpo = aioredis.Redis.from_url(redis_url)
        await limpo.flushdb()
        await limpo.aclose()
        with controle.iniciar(falsos) as fakes:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("EVOLUTION_", "ANTHROPIC_", "CHATWOOT_"))
            }
            env.update(
                AMBIENTE_BASE, DATABASE_URL=dsn, REDIS_URL=redis_url, **fakes.ambiente(), **(ambiente or {})
            )
            sistema = Sistema(pg_dir, valkey_proprio, dsn, redis_url, fakes, tmp_path, env)
            # A pool that outlives a Postgres restart: asyncpg replaces broken connections on acquire.
            pool = await db.create_pool(dsn, min_size=1, max_size=4)
            try:
                await sistema.iniciar_serve()
                if worker:
                    sistema.iniciar_worker()
                    await sistema.aquecer()
                yield sistema, pool
            finally:
                sistema.parar_processos()
                await pool.close()

    return _montar
