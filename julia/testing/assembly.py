"""julia in one process around fakes: the worker's context and the app, on the caller's Postgres pool and
Redis, with Claude reached through an in-process httpx transport (julia.testing.claude's, or the
tests' respx bridge). The perf suite's service benchmarks and the service tests assemble it here, so a
new dependency of WorkerContext or of the app is wired in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anthropic
import asyncpg
import httpx
import httpx2
import redis.asyncio as aioredis
from fastapi import FastAPI

from julia.api.app import create_app
from julia.integrations.claude import Claude
from julia.settings import Settings
from julia.worker.context import WorkerContext


def worker_context(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    outbound: httpx2.AsyncClient,
    claude: httpx2.AsyncBaseTransport,
) -> WorkerContext:
    """The worker's context with Claude on the `claude` transport; the caller closes `.claude`."""
    client = Claude(settings, http_client=anthropic.DefaultAsyncHttpxClient(transport=claude))
    return WorkerContext.build(settings, pool, redis, outbound, claude=client)


@dataclass(frozen=True)
class Assembled:
    backing_servers: WorkerContext
    app: FastAPI
    http: httpx.AsyncClient  # to the app, over ASGI


@contextlib.asynccontextmanager
async def assembled(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, claude: httpx2.AsyncBaseTransport
) -> AsyncIterator[Assembled]:
    """The worker's context and the app sharing one outbound HTTP client, as `julia serve` and `julia
    worker` each have theirs; everything it opened is closed on the way out, also when the setup fails."""
    async with contextlib.AsyncExitStack() as cleanup:
        outbound = await cleanup.enter_async_context(httpx2.AsyncClient())
        context = worker_context(settings, pool, redis, outbound, claude)
        cleanup.push_async_callback(context.claude.close)
        app = create_app(settings, pool=pool, redis=redis, http=outbound)
        http = await cleanup.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia")
        )
        yield Assembled(context, app, http)
