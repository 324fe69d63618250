"""The FastAPI app. `create_app(settings)` builds it; the lifespan opens what it was not handed (pool,
Redis, the shared httpx2 client) and closes what it opened. Nothing is connected at import time.

app.state: `settings` (Settings), `pool` (asyncpg.Pool), `redis` (redis.asyncio.Redis), `http`
(httpx2.AsyncClient shared by the integrations), `cache` (julia.cache.Cache) and `cache_stats` (its
counters), `metrics` (the process's julia.metrics collector, read by the admin routes).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx2
import redis.asyncio as aioredis
from fastapi import FastAPI

from julia import db, gc_pauses, runtime
from julia.api import admin, admin_vagas, campanhas, chatwoot, webhooks
from julia.cache import Cache
from julia.cache.ouvinte import Ouvinte
from julia.integrations.http import cliente_http
from julia.mascara import mascarar_logs
from julia.metrics import metrics
from julia.settings import Settings

APPLICATION_NAME = "julia serve"  # its connections in pg_stat_activity


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    redis: aioredis.Redis | None = None,
    http: httpx2.AsyncClient | None = None,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if pool is None:
                settings.require("database_url")
                assert settings.database_url is not None
                app.state.pool = await db.create_pool(
                    settings.database_url,
                    min_size=settings.db_pool_min,
                    max_size=settings.db_pool_max,
                    application_name=APPLICATION_NAME,
                )
                stack.push_async_callback(app.state.pool.close)
            if redis is None:
                settings.require("redis_url")
                assert settings.redis_url is not None
                app.state.redis = aioredis.Redis.from_url(settings.redis_url)
                stack.push_async_callback(app.state.redis.aclose)
                _attach_cache(app, app.state.redis, settings)
            if http is None:
                app.state.http = cliente_http()
                stack.push_async_callback(app.state.http.aclose)
            if pool is None and settings.database_url:  # a process of its own: it hears the change feed
                await stack.enter_async_context(Ouvinte(settings.database_url, app.state.cache).rodando())
                runtime.freeze_startup_heap()
                stack.enter_context(gc_pauses.recording(settings.gc_pauses_dir, "serve"))
            yield

    app = FastAPI(title="julia", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.pool, app.state.redis, app.state.http = pool, redis, http
    if redis is not None:
        _attach_cache(app, redis, settings)
    app.include_router(webhooks.router)
    app.include_router(chatwoot.router)
    app.include_router(admin.router)
    app.include_router(admin_vagas.router)
    app.include_router(campanhas.router)
    return app


def _attach_cache(app: FastAPI, redis: aioredis.Redis, settings: Settings) -> None:
    app.state.cache = Cache(redis, settings)
    app.state.cache_stats = app.state.cache.contagens


def app_from_env() -> FastAPI:
    """The factory `julia serve` hands uvicorn (each uvicorn worker process builds its own)."""
    mascarar_logs()  # a uvicorn worker process did not run julia's main: its logs are masked here
    return create_app(Settings())
