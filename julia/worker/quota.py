"""A Baileys number's unsolicited volume: at most EVOLUTION_CAMPANHA_MAX_PER_HOUR and _MAX_PER_DAY
messages nobody asked for (campaigns, notices: the sender's `campanha` class), and less while a new number
warms up (issue 36, point 1).

Why: on Evolution's Baileys integration the number is a phone's WhatsApp, with no Meta messaging tier; what
gets one banned is volume to people who did not write first, above all on a young number. The per-second
rate (julia/worker/rate.py) spreads sends; these caps bound how many there are. The Cloud API has Meta's own
tiers and is not held here.

Counted in Redis on Redis's clock, so every worker process shares them: one counter per calendar hour and
one per day in Brasília time (UTC-3, no daylight saving since 2019). Only what Evolution accepted counts
(and a send whose outcome is unknown, which may have gone): a try Evolution refused (its 400 "Connection
Closed" while the number is disconnected, a 5xx) or a row that never reached the call (cancelled, given
back by a stop of sending) takes nothing from the hour. Counting at the check instead spent the hour on a
closed connection's refused tries. So a send first *reserves* a slot (`take`: the counters plus the
reservations still open stay under the caps, checked and reserved in one script, so concurrent senders
cannot overshoot) and, once Evolution answered, `confirm` turns it into a count, or `release` frees it
(refused, or the row was not sent after all). A reservation neither confirmed nor released (its sender
died) lapses after `reservation_s`; a message over either cap is put off to when that hour or day ends,
or, when only open reservations fill it, a few seconds later (OPEN_RESERVATIONS_WAIT_S).
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import redis.asyncio as aioredis

from julia.cache import keys
from julia.settings import Settings

log = logging.getLogger(__name__)

BRASILIA_OFFSET_S = -3 * 3600
# When only reservations still open fill a cap: most are answered (counted or freed) within seconds, so the
# row looks again this soon rather than at the hour's end.
OPEN_RESERVATIONS_WAIT_S = 5.0
# KEYS[1] the counters' prefix; ARGV[1] the hour's most, ARGV[2] the day's most, ARGV[3] the day's offset
# from UTC in seconds, ARGV[4] the reservation's name, ARGV[5] how long it holds (s), ARGV[6] the longest
# wait for open reservations (most are answered within seconds). 0: reserved, the message may go; else
# seconds to wait.
TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local offset = tonumber(ARGV[3])
local hour = math.floor(t / 3600)
local day = math.floor((t + offset) / 86400)
local kr = KEYS[1] .. ':reservas'
redis.call('ZREMRANGEBYSCORE', kr, '-inf', t)
local open = redis.call('ZCARD', kr)
local sent_day = tonumber(redis.call('GET', KEYS[1] .. ':d:' .. day) or '0')
local sent_hour = tonumber(redis.call('GET', KEYS[1] .. ':h:' .. hour) or '0')
if sent_day >= tonumber(ARGV[2]) then
    return tostring((day + 1) * 86400 - offset - t)
end
if sent_hour >= tonumber(ARGV[1]) then
    return tostring((hour + 1) * 3600 - t)
end
if sent_day + open >= tonumber(ARGV[2]) or sent_hour + open >= tonumber(ARGV[1]) then
    local oldest = redis.call('ZRANGE', kr, 0, 0, 'WITHSCORES')
    return tostring(math.min(math.max(tonumber(oldest[2]) - t, 0.1), tonumber(ARGV[6])))
end
redis.call('ZADD', kr, t + tonumber(ARGV[5]), ARGV[4])
redis.call('EXPIRE', kr, math.ceil(tonumber(ARGV[5])) * 2)
return '0'
"""
# KEYS[1] the prefix; ARGV[1] the day's offset, ARGV[2] the reservation's name: Evolution accepted (or may
# have sent) it: counted in the hour and day it went, its reservation closed (lapsed or not).
CONFIRM = """
local t = tonumber(redis.call('TIME')[1])
local kh = KEYS[1] .. ':h:' .. math.floor(t / 3600)
local kd = KEYS[1] .. ':d:' .. math.floor((t + tonumber(ARGV[1])) / 86400)
redis.call('ZREM', KEYS[1] .. ':reservas', ARGV[2])
redis.call('INCR', kh)
redis.call('EXPIRE', kh, 7200)
redis.call('INCR', kd)
redis.call('EXPIRE', kd, 172800)
return 1
"""


def daily_most(settings: Settings, today: dt.date) -> int:
    """The day's most: the full figure, or on day n (1-based) of a warm-up n/EVOLUTION_WARMUP_DAYS of it."""
    full = settings.evolution_campanha_max_per_day
    since = settings.evolution_warmup_since
    if since is None:
        return full
    day = (today - since).days + 1
    if day >= settings.evolution_warmup_days:
        return full
    return max(1, math.ceil(full * max(day, 1) / settings.evolution_warmup_days))


class Quota:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._take = redis.register_script(TAKE)
        self._confirm = redis.register_script(CONFIRM)
        self._settings = settings
        self._prefix = keys.campaign_quota(settings.evolution_instance)
        # Longer than a reserved send can take to be answered: the wait for the rate limiter's token, the
        # typing delay, Evolution's timeout. One that lapses anyway (a send slower still) is counted when
        # confirmed, and until then its slot may go to another message: an overshoot of at most a few.
        self.reservation_s = (
            60.0 + settings.evolution_typing_delay_ms / 1000 + 2 * settings.evolution_timeout_s
        )

    async def take(self, reservation: str) -> float:
        """0.0 when one more unsolicited message may go now (a slot reserved under `reservation`, for
        `confirm`); else seconds to wait."""
        today = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=BRASILIA_OFFSET_S)).date()
        day = daily_most(self._settings, today)
        hour = min(self._settings.evolution_campanha_max_per_hour, day)
        args: list[str | int | float] = [
            hour,
            day,
            BRASILIA_OFFSET_S,
            reservation,
            self.reservation_s,
            OPEN_RESERVATIONS_WAIT_S,
        ]
        wait_s = await self._take(keys=[self._prefix], args=args)
        return float(wait_s)

    async def release(self, reservation: str) -> None:
        """The reserved row did not reach Evolution, or Evolution refused it: its slot is free again."""
        try:
            await self._redis.zrem(f"{self._prefix}:reservas", reservation)
        except (aioredis.RedisError, OSError) as exc:  # it lapses by itself; the send's outcome matters more
            log.warning(
                "quota slot %s not freed (it lapses in %.0f s): %s", reservation, self.reservation_s, exc
            )

    async def confirm(self, reservation: str) -> None:
        """Evolution accepted the reserved send (or may have: its outcome is unknown): count it. Redis away
        now loses the count, not the send: its outcome must still be recorded."""
        try:
            await self._confirm(keys=[self._prefix], args=[BRASILIA_OFFSET_S, reservation])
        except (aioredis.RedisError, OSError) as exc:
            log.warning("quota: send %s accepted but not counted: %s", reservation, exc)
