"""A Baileys number's unsolicited volume: at most EVOLUTION_CAMPANHA_MAX_PER_HOUR and _MAX_PER_DAY
messages nobody asked for (campaigns, notices: the sender's `campanha` class), and less while a new number
warms up (issue 36, point 1).

Why: on Evolution's Baileys integration the number is a phone's WhatsApp, with no Meta messaging tier; what
gets one banned is volume to people who did not write first, above all on a young number. The per-second
rate (julia/worker/taxa.py) spreads sends; these caps bound how many there are. The Cloud API has Meta's own
tiers and is not held here.

Counted in Redis on Redis's clock, so every worker process shares them: one counter per calendar hour and
one per day in Brasília time (UTC-3, no daylight saving since 2019), checked and incremented in one script.
A message over either cap is put off to when that hour or day ends.
"""

from __future__ import annotations

import datetime as dt
import math

import redis.asyncio as aioredis

from julia.cache import keys
from julia.settings import Settings

BRASILIA_OFFSET_S = -3 * 3600
# KEYS[1] the counters' prefix; ARGV[1] the hour's most, ARGV[2] the day's most, ARGV[3] the day's offset
# from UTC in seconds. 0: counted, the message may go; else seconds until the full hour or day ends.
QUOTA = """
local t = tonumber(redis.call('TIME')[1])
local offset = tonumber(ARGV[3])
local hour = math.floor(t / 3600)
local day = math.floor((t + offset) / 86400)
local kh = KEYS[1] .. ':h:' .. hour
local kd = KEYS[1] .. ':d:' .. day
if tonumber(redis.call('GET', kd) or '0') >= tonumber(ARGV[2]) then
    return (day + 1) * 86400 - offset - t
end
if tonumber(redis.call('GET', kh) or '0') >= tonumber(ARGV[1]) then
    return (hour + 1) * 3600 - t
end
redis.call('INCR', kh)
redis.call('EXPIRE', kh, 7200)
redis.call('INCR', kd)
redis.call('EXPIRE', kd, 172800)
return 0
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
        self._script = redis.register_script(QUOTA)
        self._settings = settings
        self._prefix = keys.campaign_quota(settings.evolution_instance)

    async def take(self) -> float:
        """0.0 when one more unsolicited message may go now (counted); else seconds to wait."""
        today = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=BRASILIA_OFFSET_S)).date()
        day = daily_most(self._settings, today)
        hour = min(self._settings.evolution_campanha_max_per_hour, day)
        wait_s = await self._script(keys=[self._prefix], args=[hour, day, BRASILIA_OFFSET_S])
        return float(wait_s)
