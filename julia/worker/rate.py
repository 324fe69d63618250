"""The sender's rate limits: a token bucket (GCRA) per instance and class of message, in Redis so that
every worker process draws from the same bucket, computed in one Lua script on Redis's own clock.

Two classes, because WhatsApp's constraint is unsolicited volume: replies to a doctor who is waiting
(`resposta`: a row queued at PRIORIDADE_RESPOSTA or above) have their own, higher rate
(EVOLUTION_RATE_PER_S) and never wait for campaign tokens; campaigns and other unsolicited rows
(`campanha`) go at EVOLUTION_CAMPANHA_RATE_PER_S. A bucket holds one second of its rate, so a burst
up to the rate passes at once and sends are spread evenly after it (no bunching at second boundaries,
unlike a counter per calendar second).
"""

from __future__ import annotations

import asyncio
from typing import Literal

import redis.asyncio as aioredis

from julia.cache import keys
from julia.settings import Settings

MessageClass = Literal["resposta", "campanha"]
# Júlia's replies are queued at this priority (julia.worker.reply): a doctor who is waiting goes
# before campaigns (default 5) in the claim order, and is sent at the reply rate.
PRIORITY_REPLY = 8

# GCRA: the bucket is one timestamp, the "theoretical arrival time" of the next conforming send. A send
# conforms when now >= tat - tolerance; it then moves tat one interval on. Microseconds from Redis TIME
# (doubles hold them exactly). Returns 0 when the send may go now, else microseconds to wait.
# KEYS[1] the bucket; ARGV[1] interval (us) = 1e6 / rate; ARGV[2] tolerance (us) = (burst - 1) * interval.
GCRA = """
local t = redis.call('TIME')
local agora = tonumber(t[1]) * 1000000 + tonumber(t[2])
local intervalo = tonumber(ARGV[1])
local tolerancia = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < agora then tat = agora end
local permitido = tat - tolerancia
if agora < permitido then return math.ceil(permitido - agora) end
local novo = tat + intervalo
redis.call('SET', KEYS[1], string.format('%.0f', novo), 'PX', math.ceil((novo - agora) / 1000) + 1000)
return 0
"""


def message_class(prioridade: int) -> MessageClass:
    return "resposta" if prioridade >= PRIORITY_REPLY else "campanha"


class Rate:
    """At most `rate` sends per second per instance and class, shared by every process on one Redis."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._script = redis.register_script(GCRA)
        base = keys.send_rate(settings.evolution_instance)
        self._buckets = {
            "resposta": (f"{base}:resposta", settings.evolution_rate_per_s),
            "campanha": (f"{base}:campanha", settings.evolution_campanha_rate_per_s),
        }

    async def wait_for(self, de: MessageClass) -> None:
        """Return when a send of class `de` conforms to its rate (taking its token)."""
        key, rate = self._buckets[de]
        interval = 1e6 / rate
        tolerance = (max(1.0, rate) - 1.0) * interval
        while True:
            wait_us = int(await self._script(keys=[key], args=[interval, tolerance]))
            if wait_us == 0:
                return
            await asyncio.sleep(wait_us / 1e6)
