"""The sender's question before each batch: is sending paused (julia/services/pausa.py keeps the flag)?

Redis unreachable reads as paused: the sender cannot send without Redis anyway (its rate limit lives there:
julia/worker/taxa.py), and claiming rows it cannot send would only spend their tries.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from julia.services.pausa import CHAVE

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0
AVISO_INTERVALO_S = 60.0  # the sender asks five times a second: say "Redis is down" once a minute

_ultimo_aviso = 0.0


async def envio_pausado(redis: aioredis.Redis) -> bool:
    """What the sender asks before each batch. Never raises: Redis down or slow counts as paused."""
    global _ultimo_aviso
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return bool(await redis.exists(CHAVE))
    except (RedisError, OSError, TimeoutError) as exc:
        agora = time.monotonic()
        if agora - _ultimo_aviso >= AVISO_INTERVALO_S:
            _ultimo_aviso = agora
            log.warning("sender idle: Redis unreachable (%s); the queue waits in Postgres", exc or "timeout")
        return True
