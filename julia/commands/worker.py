"""`julia worker`: answers inbound WhatsApp messages with Claude and drains the send queue until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

import redis.asyncio as aioredis

from julia import gc_pauses, runtime
from julia.cliparser import requires_env
from julia.settings import Settings

REQUIRED = ("anthropic_api_key", "evolution_url", "evolution_api_key")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "worker",
        help="answer inbound messages (Claude) and send the queue (Evolution) until Ctrl-C",
        epilog=requires_env(REQUIRED),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    settings.require(*REQUIRED)
    with runtime.find_servers(settings) as found:
        runtime.run_long(run_worker(settings, found.database_url, found.redis_url))
    return 0


async def run_worker(
    settings: Settings, database_url: str, redis_url: str, stop: asyncio.Event | None = None
) -> None:
    """Run until `parar` is set or SIGINT/SIGTERM arrives; replies in flight finish first."""
    # Imported here: the worker pulls in the Anthropic SDK (about a second) that `julia --help` and the
    # other commands have no use for.
    from julia.cache.listener import Listener
    from julia.integrations.http import CONNECTIONS_MAX, cliente_http
    from julia.services import topology
    from julia.worker.channel import check_integration
    from julia.worker.context import WorkerContext
    from julia.worker.loop import Worker

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with (
        runtime.migrated_pool(settings, database_url, application_name="julia worker") as pool,
        # Each reply in flight (at most MAX_WORKERS) mirrors one Chatwoot call at a time, beside the
        # sender's slots and the alerts: a connection each, or a raised MAX_WORKERS waits for the pool.
        cliente_http(max(CONNECTIONS_MAX, settings.max_workers + CONNECTIONS_MAX // 2)) as http,
    ):
        await topology.verify(settings, http)  # before any send: a refused topology sends nothing
        redis = aioredis.Redis.from_url(redis_url)
        context = WorkerContext.build(settings, pool, redis, http)
        try:
            await check_integration(settings.evolution_integration, context.evolution)
            listener = Listener(database_url, context.cache)
            # One listening connection: the cache's change feed and the queues' wake-up share it.
            worker = Worker(context, listening=listener.listening)
            async with listener.running():
                runtime.freeze_startup_heap()
                with gc_pauses.recording(settings.gc_pauses_dir, "worker"):
                    await worker.run(stop)
        finally:
            await context.claude.close()
            await redis.aclose()
