"""Dependency aliases: what a route needs, read from app.state (built once in the app's lifespan).

Every dependency is `async def` although none awaits: FastAPI runs a plain `def` dependency in its
thread pool, a thread hand-off per dependency per request. The webhook took three, a tenth of
`julia serve`'s CPU in a 1,000-doctor storm (py-spy), to read three attributes."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import httpx2
from fastapi import Depends, Request

from julia.cache import Cache
from julia.settings import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _http(request: Request) -> httpx2.AsyncClient:
    http: httpx2.AsyncClient = request.app.state.http
    return http


async def _cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
HttpDep = Annotated[httpx2.AsyncClient, Depends(_http)]
CacheDep = Annotated[Cache, Depends(_cache)]

# Postgres is unreachable (down, restarting, out of connections): the webhook answers 503 so the
# sender (Evolution, Chatwoot) retries later.
BANCO_INDISPONIVEL: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
