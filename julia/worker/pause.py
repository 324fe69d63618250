"""The sender's question before each batch: what does the stop of sending hold back now
(julia/services/pause.py keeps its causes)?

Redis unreachable reads as everything held: the sender cannot send without Redis anyway (its rate limit
lives there: julia/worker/rate.py), and claiming rows it cannot send would only spend their tries.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from julia.cache.keys import SENDING_STOP
from julia.services.pause import Retention, retention

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0
AVISO_INTERVAL_S = 60.0  # the sender asks five times a second: say "Redis is down" once a minute

_last_aviso = 0.0


async def send_retention(redis: aioredis.Redis) -> Retention:
    """What the sender asks before each batch (one HKEYS). Never raises: Redis down or slow holds all."""
    global _last_aviso
    try:
        async with asyncio.timeout(TIMEOUT_S):
            causas = await redis.hkeys(SENDING_STOP)
    except ResponseError:  # WRONGTYPE: a string flag set by hand, a stop of everything
        return "tudo"
    except (RedisError, OSError, TimeoutError) as exc:
        now = time.monotonic()
        if now - _last_aviso >= AVISO_INTERVAL_S:
            _last_aviso = now
            log.warning("sender idle: Redis unreachable (%s); the queue waits in Postgres", exc or "timeout")
        return "tudo"
    return retention({c.decode() if isinstance(c, bytes) else c for c in causas})
