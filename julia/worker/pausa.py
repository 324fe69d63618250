"""The sender's question before each batch: what does the stop of sending hold back now
(julia/services/pausa.py keeps its causes)?

Redis unreachable reads as everything held: the sender cannot send without Redis anyway (its rate limit
lives there: julia/worker/taxa.py), and claiming rows it cannot send would only spend their tries.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from julia.cache.keys import SENDING_STOP
from julia.services.pausa import Retencao, retencao

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0
AVISO_INTERVALO_S = 60.0  # the sender asks five times a second: say "Redis is down" once a minute

_ultimo_aviso = 0.0


async def retencao_do_envio(redis: aioredis.Redis) -> Retencao:
    """What the sender asks before each batch (one HKEYS). Never raises: Redis down or slow holds all."""
    global _ultimo_aviso
    try:
        async with asyncio.timeout(TIMEOUT_S):
            causas = await redis.hkeys(SENDING_STOP)
    except ResponseError:  # WRONGTYPE: a string flag set by hand, a stop of everything
        return "tudo"
    except (RedisError, OSError, TimeoutError) as exc:
        agora = time.monotonic()
        if agora - _ultimo_aviso >= AVISO_INTERVALO_S:
            _ultimo_aviso = agora
            log.warning("sender idle: Redis unreachable (%s); the queue waits in Postgres", exc or "timeout")
        return "tudo"
    return retencao({c.decode() if isinstance(c, bytes) else c for c in causas})
