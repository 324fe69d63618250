"""The /metrics gauges that cost Postgres queries (the queues, the recent campaigns) or that the worker
counts (Claude's tokens today, julia.services.budget), computed once per alert round by the worker and
served by the API from Redis.

Computed per scrape, they were five aggregate queries and the campaign report on every GET /metrics: a loop
of scrapes became Postgres load, and webhooks waited behind it. Now the worker's alert round (which counts
the queues anyway, julia.health) writes one JSON value, `GAUGES` (julia/cache/keys.py), with a TTL of a
few rounds; a scrape is one Redis GET. A dead worker's figures expire rather than freeze; no worker, no
figures, and the queue gauges keep their last value in each API process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict

import asyncpg
import redis.asyncio as aioredis

from julia.cache.keys import GAUGES
from julia.data.operacao import Operation
from julia.health import queue_measures
from julia.metrics import Metrics
from julia.services import budget
from julia.services.campanhas import recent_tallies

log = logging.getLogger(__name__)

TTL_S = 300  # five alert rounds (julia/worker/loop.py, ALERTA_INTERVALO_S)
LOAD_TIMEOUT_S = 1.0


async def publish(redis: aioredis.Redis, pool: asyncpg.Pool, operacao: Operation | None) -> None:
    """The worker's side, once per alert round (after the health check that counted `operacao`)."""
    snapshot = {
        "fila": queue_measures(operacao) if operacao is not None else None,
        "campanhas": await recent_tallies(pool),
        "orcamento": asdict(await budget.usage(redis)),
    }
    await redis.set(GAUGES, json.dumps(snapshot), ex=TTL_S)


async def load(redis: aioredis.Redis, metrics: Metrics) -> None:
    """The API's side, before a scrape: the last snapshot into the gauges. Never fails the scrape: Redis
    down or no snapshot leaves the gauges as they were."""
    try:
        async with asyncio.timeout(LOAD_TIMEOUT_S):
            raw = await redis.get(GAUGES)
    except Exception as exc:
        log.warning("gauges not refreshed, Redis: %s: %s", type(exc).__name__, exc)
        return
    if raw is None:
        return
    snapshot = json.loads(raw)
    if snapshot["fila"] is not None:
        metrics.set_queue_gauges(snapshot["fila"])
    for campanha_id, tallies in (snapshot["campanhas"] or {}).items():
        metrics.set_campanha(campanha_id, tallies)
    if snapshot.get("orcamento") is not None:  # a snapshot from a worker before the budgets has none
        metrics.set_budget_gauges(snapshot["orcamento"])
