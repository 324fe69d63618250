"""Dependency aliases: what a route needs, read from app.state (built once in the app's lifespan).

Every dependency is `async def` although none awaits: FastAPI runs a plain `def` dependency in its
thread pool, a thread hand-off per dependency per request. The webhook took three, a tenth of
`julia serve`'s CPU in a 1,000-doctor storm (py-spy), to read three attributes."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from julia.cache import Cache
from julia.clients import Clients
from julia.settings import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


async def _cache(request: Request) -> Cache:
    clients: Clients = request.app.state.clients
    return clients.cache


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
ClientsDep = Annotated[Clients, Depends(_clients)]
CacheDep = Annotated[Cache, Depends(_cache)]
