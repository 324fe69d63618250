"""What the docs' commands run against: a migrated database seeded with 300 synthetic doctors
(julia_docs, on the session's server), the session's Redis, the julia app over ASGI, julia's fake
Evolution, Chatwoot and Slack (julia.testing's fakes, answering as docs/integrations.md says they do)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import httpx2
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import SecretStr

from julia import db, servers
from julia.api.app import create_app
from julia.cache import keys
from julia.seed import seed
from julia.settings import Settings
from julia.testing.app import make_app
from julia.testing.state import State

DOCTORS = 300
ADMIN = "token-do-plantao"
EVOLUTION_KEY = "chave-evolution-docs"
CHATWOOT_TOKEN = "token-chatwoot-docs"
CHATWOOT_WEBHOOK_TOKEN = "token-webhook-docs"
HOSTS = {
    "JULIA_URL": "http://julia.docs",
    "EVOLUTION_URL": "http://evolution.docs",
    "CHATWOOT_URL": "http://chatwoot.docs",
    "SLACK_WEBHOOK_URL": "http://slack.docs/services/T000/B000/XXXX",
}


@pytest.fixture(scope="session")
async def docs_dsn(services: servers.Servers) -> str:
    dsn = await db.fresh_database(services.database_url, "julia_docs")
    conn = await db.connect(dsn)
    try:
        await seed(conn, DOCTORS)
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="session")
def docs_env(docs_dsn: str, services: servers.Servers) -> dict[str, str]:
    """The variables the docs' commands use, as on-call would have them exported."""
    return {
        "DATABASE_URL": docs_dsn,
        "REDIS_URL": services.redis_url,
        "ADMIN_TOKEN": ADMIN,
        "METRICS_TOKEN": ADMIN,
        "EVOLUTION_API_KEY": EVOLUTION_KEY,
        "EVOLUTION_WEBHOOK_SENDING_KEY": "true",
        "EVOLUTION_INSTANCE": "julia",
        "CHATWOOT_API_TOKEN": CHATWOOT_TOKEN,
        "CHATWOOT_ACCOUNT_ID": "1",
        "CHATWOOT_INBOX_ID": "7",
        "CHATWOOT_WEBHOOK_TOKEN": CHATWOOT_WEBHOOK_TOKEN,
        **HOSTS,
    }


def process_env(docs_env: dict[str, str]) -> dict[str, str]:
    """For `julia` subprocesses: this environment without stray julia settings, plus the docs' ones."""
    keep = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return {**keep, **docs_env, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
async def docs_pool(docs_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(docs_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def docs_redis(services: servers.Servers) -> AsyncIterator[aioredis.Redis]:
    """The session's Redis; the emergency stop flag never outlives a test (other tests send)."""
    client = aioredis.Redis.from_url(services.redis_url)
    await client.delete(keys.SENDING_STOP)
    yield client
    await client.delete(keys.SENDING_STOP)
    await client.aclose()


class _Hosts(httpx.AsyncBaseTransport):
    """Each docs host to its ASGI app."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        assert transport is not None, f"the docs call {request.url}, which no docs test server answers"
        return await transport.handle_async_request(request)


@pytest.fixture
async def http_docs(
    docs_pool: asyncpg.Pool, docs_redis: aioredis.Redis, docs_env: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=docs_env["DATABASE_URL"],
        redis_url=docs_env["REDIS_URL"],
        admin_token=SecretStr(ADMIN),
        metrics_token=SecretStr(ADMIN),
        evolution_url=HOSTS["EVOLUTION_URL"],
        evolution_api_key=SecretStr(EVOLUTION_KEY),
        evolution_webhook_sending_key=True,
        chatwoot_webhook_token=SecretStr(CHATWOOT_WEBHOOK_TOKEN),
        slack_webhook_url=HOSTS["SLACK_WEBHOOK_URL"],
    )
    async with httpx2.AsyncClient() as outbound:
        julia = create_app(settings, pool=docs_pool, redis=docs_redis, http=outbound)
        fake_servers = State()
        fake_servers.configure("chatwoot", {"token": CHATWOOT_TOKEN})
        backing_servers = make_app(fake_servers)  # one fake app answers the three hosts: their paths differ
        apps = {
            "julia.docs": julia,
            "evolution.docs": backing_servers,
            "chatwoot.docs": backing_servers,
            "slack.docs": backing_servers,
        }
        async with httpx.AsyncClient(transport=_Hosts(apps)) as client:
            yield client
