"""`julia serve`: the FastAPI app under uvicorn (webhooks in; the worker answers them)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import uvicorn

from julia import db, runtime
from julia.cliparser import requires_env
from julia.errors import ConfigError
from julia.migrate import migrate
from julia.settings import Settings

REQUIRED = ("evolution_api_key",)
# How long an idle HTTP connection stays open. uvicorn's default (5 s) closes the Evolution gateway's
# connection between two messages of a conversation, so most webhooks would pay a new TCP connection, and
# a close that crosses the client's next request on the same socket fails that request. 30 s outlasts a
# doctor's pause; the perf suite's webhook load runs this same command, so it measures this value too.
KEEP_ALIVE_S = 30


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="serve the webhooks (FastAPI under uvicorn)", epilog=requires_env(REQUIRED)
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    settings.require(*REQUIRED)
    with runtime.find_servers(settings) as found:  # a missing server URL is said first
        require_webhook_proof(settings)
        asyncio.run(_migrate(found.database_url))
        asyncio.run(_check_topology(settings))
        # Worker processes build their own Settings from the environment: hand them the servers.
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = found.database_url, found.redis_url
        uvicorn.run(
            "julia.api.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=settings.log_level.lower(),
            access_log=settings.log_level == "DEBUG",
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    return 0


async def _check_topology(settings: Settings) -> None:
    """Once, before uvicorn forks: a refused Chatwoot topology ends the command in one line, before the
    webhook could relay an agent's reply (julia/services/topology.py)."""
    # Imported here, as the worker does: `julia --help` and the other commands need no HTTP client.
    from julia.integrations.http import cliente_http
    from julia.services import topology

    async with cliente_http() as http:
        await topology.verify(settings, http)


def require_webhook_proof(settings: Settings) -> None:
    """Evolution's webhooks need a proof of their own (EVOLUTION_WEBHOOK_SECRET), or an explicit setting
    that the sending key may be one: with neither, every webhook would be refused (401) and every doctor's
    message lost, so serve stops at start in one line instead of running deaf."""
    if (
        settings.evolution_webhook_secret is None
        and not settings.evolution_webhook_sending_key
        and not settings.evolution_webhook_body_key
    ):
        raise ConfigError(
            "missing required setting: EVOLUTION_WEBHOOK_SECRET (Evolution's webhooks need a secret of their "
            "own; EVOLUTION_WEBHOOK_SENDING_KEY=true accepts the sending key instead, docs/deploy.md)"
        )


async def _migrate(dsn: str) -> None:
    """Once, before uvicorn forks its workers (they then find the schema current). An unreachable Postgres
    ends the command here, in one line, before uvicorn starts."""
    conn = await db.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
