"""Shared fixtures: one real Postgres and one real Redis for the whole session (`services`, shared with the
perf suite: julia.testing.fixtures), a pool on a fresh database and a Redis client. Never mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import db, servers
from julia.testing.fixtures import services as services


@pytest.fixture(scope="session")
async def pool(services: servers.Servers) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a freshly migrated, empty database (a private database when DATABASE_URL is shared)."""
    dsn = await db.fresh_database(services.database_url, "julia_test")
    pool = await db.create_pool(dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(services: servers.Servers) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(services.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()
