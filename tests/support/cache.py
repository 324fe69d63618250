"""A Cache for the tests that assert hits and misses (the cache's and the reservations'), patient
enough that a loaded machine never turns a hit into a timeout."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from julia.cache import Cache
from julia.settings import Settings

# Generous: these tests assert hits and misses, and a loaded 2-core machine must not turn a hit into a
# timeout. The tests of the timeout itself build their own Cache with the real 50 ms.
TIMEOUT_MS = 2000
BACKOFF_S = 0.05


def cache_de(redis: aioredis.Redis, **settings: Any) -> Cache:
    return Cache(redis, Settings(**{"cache_timeout_ms": TIMEOUT_MS, **settings}), backoff_s=BACKOFF_S)
