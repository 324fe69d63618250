"""`julia health`: the judged health report of /admin/metricas/health, read straight from DATABASE_URL and
REDIS_URL. For an operator without the API's address or token, or without psql and redis-cli: the same
`SELECT 1` round trip, Redis `PING`, emergency stop flag and queue figures the runbook checks by hand.
Both URLs must be set: a server started just for the command would report on nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import redis.asyncio as aioredis

from julia import db
from julia.health import PROBE_TIMEOUT_S, HealthCheck
from julia.metrics import Metrics
from julia.settings import Settings

REQUIRED = ("database_url", "redis_url")
CONNECT_TIMEOUT_S = 5.0  # a remote Postgres over TLS; a closed port fails at once anyway


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "health",
        help="the /admin/metricas/health report, read from DATABASE_URL and REDIS_URL (exit 0 either way)",
        epilog="Needs DATABASE_URL and REDIS_URL in the environment. Latency percentiles (p95_ms) are the "
        "API's and worker's own: this process has made no calls, so it shows none.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    settings.require(*REQUIRED)
    assert settings.database_url is not None
    assert settings.redis_url is not None
    print(json.dumps(asyncio.run(_report(settings, settings.database_url, settings.redis_url)), indent=2))
    return 0


async def _report(settings: Settings, database_url: str, redis_url: str) -> dict[str, Any]:
    # An unreachable Postgres ends here in one line (DatabaseUnavailable); Redis down is reported inside.
    pool = await db.create_pool(database_url, min_size=1, max_size=2, timeout=CONNECT_TIMEOUT_S)
    redis = aioredis.Redis.from_url(
        redis_url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
    )
    try:
        report = await HealthCheck.build(settings, pool, redis, Metrics()).check()
        return report.as_dict()
    finally:
        await redis.aclose()
        await pool.close()
