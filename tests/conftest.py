"""Shared fixtures: one real Postgres and one real Redis for the whole session, resolved like everywhere
else (DATABASE_URL/REDIS_URL, else Docker, else embedded). Never mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import db, servers
from julia.migrate import migrate
from julia.settings import Settings


@pytest.fixture(scope="session")
def services() -> Iterator[servers.Services]:
    settings = Settings()
    with servers.resolve(settings.database_url, settings.redis_url) as found:
        yield found


@pytest.fixture(scope="session")
async def pool(services: servers.Services) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a freshly migrated, empty database (a private database when DATABASE_URL is shared)."""
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute("DROP DATABASE IF EXISTS julia_test WITH (FORCE)")
        await admin.execute("CREATE DATABASE julia_test")
    finally:
        await admin.close()
    dsn = db.with_database(services.database_url, "julia_test")
    pool = await db.create_pool(dsn, min_size=1, max_size=10)
    async with pool.acquire() as conn:
        await migrate(conn)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(services: servers.Services) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(services.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()
