"""The FastAPI app. `create_app(settings)` builds it; the lifespan opens what it was not handed (pool,
Redis, the shared httpx2 client) and closes what it opened. Nothing is connected at import time.

app.state: `settings` (Settings), `pool` (asyncpg.Pool), `redis` (redis.asyncio.Redis), `http`
(httpx2.AsyncClient shared by the integrations), `clients` (julia.clients.Clients: the cache, Chatwoot and
Slack, built as the worker builds them) and `cache_stats` (the cache's counters), `metrics` (the process's
julia.metrics collector, read by the admin routes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx2
import redis.asyncio as aioredis
from fastapi import FastAPI

from julia import db, gc_pauses, runtime
from julia.api import admin, admin_vagas, campanhas, chatwoot, webhooks
from julia.api.guard import Guard
from julia.cache.listener import Listener
from julia.clients import Clients
from julia.integrations.http import cliente_http
from julia.masking import mask_logs
from julia.metrics import metrics
from julia.settings import Settings

log = logging.getLogger(__name__)

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
            if http is None:
                app.state.http = cliente_http()
                stack.push_async_callback(app.state.http.aclose)
            if redis is None or http is None:
                _attach_clients(app, settings)
            if pool is None and settings.database_url:  # a process of its own: it hears the change feed
                if settings.evolution_webhook_secret is None:
                    log.warning(
                        "EVOLUTION_WEBHOOK_SECRET unset: Evolution's webhooks are authenticated by the "
                        "sending key alone, so a leaked EVOLUTION_API_KEY forges any doctor (docs/deploy.md)"
                    )
                await stack.enter_async_context(
                    Listener(settings.database_url, app.state.clients.cache).running()
                )
                runtime.freeze_startup_heap()
                stack.enter_context(gc_pauses.recording(settings.gc_pauses_dir, "serve"))
            yield

    # /docs and /openapi.json map every route and body for anyone: off unless API_DOCS turns them on.
    docs = settings.api_docs
    app = FastAPI(
        title="julia",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.add_middleware(Guard, settings=settings)  # body cap and the admin token, before routing
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.pool, app.state.redis, app.state.http = pool, redis, http
    if redis is not None and http is not None:
        _attach_clients(app, settings)
    app.include_router(webhooks.router)
    app.include_router(chatwoot.router)
    app.include_router(admin.router)
    app.include_router(admin_vagas.router)
    app.include_router(campanhas.router)
    return app


def _attach_clients(app: FastAPI, settings: Settings) -> None:
    app.state.clients = Clients.build(settings, app.state.redis, app.state.http)
    app.state.cache_stats = app.state.clients.cache.counts


def app_from_env() -> FastAPI:
    """The factory `julia serve` hands uvicorn (each uvicorn worker process builds its own)."""
    mask_logs()  # a uvicorn worker process did not run julia's main: its logs are masked here
    return create_app(Settings())
