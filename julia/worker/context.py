"""The worker's context: what it talks to (the pool, Redis, the clients of julia/clients.py, Evolution and
Claude), built once per process by its entrypoint and passed down as `s`."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import httpx2
import redis.asyncio as aioredis

from julia.cache import Cache
from julia.clients import Clients
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.claude import Claude
from julia.integrations.evolution import Evolution
from julia.integrations.slack import Slack
from julia.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    cache: Cache
    http: httpx2.AsyncClient
    claude: Claude
    evolution: Evolution
    chatwoot: Chatwoot | None
    slack: Slack | None
    # julia conversation id -> its Chatwoot conversation id, as this process has seen them (espelho.py)
    chatwoot_ids: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        http: httpx2.AsyncClient,
        *,
        claude: Claude | None = None,
    ) -> WorkerContext:
        """The clients the API shares (julia/clients.py: Chatwoot and Slack optional, mirroring and alerts
        are off without them), plus Claude and Evolution, required here (Settings.require names what is
        missing)."""
        clients = Clients.build(settings, redis, http)
        return cls(
            settings=settings,
            pool=pool,
            redis=redis,
            cache=clients.cache,
            http=http,
            claude=claude or Claude(settings),
            evolution=Evolution(settings, http),
            chatwoot=clients.chatwoot,
            slack=clients.slack,
        )
