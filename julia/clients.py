"""What a process talks to besides Postgres, built in one place for the API and the worker: the Redis
cache and the Chatwoot and Slack clients over the process's one HTTP client, each client with its
timeout from Settings (CHATWOOT_TIMEOUT_S, SLACK_TIMEOUT_S).

`julia serve`'s app (julia/api/app.py) and the worker's context (julia/worker/context.py) take the same
`Clients`; the worker adds Evolution and Claude, which only it uses (the API neither sends to WhatsApp
nor calls Claude), and which read EVOLUTION_TIMEOUT_S and ANTHROPIC_TIMEOUT_S themselves. The entrypoint
opens the HTTP client and Redis and closes them; nothing here connects at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
import redis.asyncio as aioredis

from julia.cache import Cache
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack
from julia.settings import Settings


@dataclass(frozen=True)
class Clients:
    """Chatwoot and Slack are None when their settings are unset (mirroring, agents' notes, handoff
    notices and alerts are then off)."""

    http: httpx2.AsyncClient
    cache: Cache
    chatwoot: Chatwoot | None
    slack: Slack | None

    @classmethod
    def build(cls, settings: Settings, redis: aioredis.Redis, http: httpx2.AsyncClient) -> Clients:
        return cls(
            http=http,
            cache=Cache(redis, settings),
            chatwoot=Chatwoot(settings, http) if Chatwoot.configured(settings) else None,
            slack=(
                Slack(settings.slack_webhook_url, http, timeout_s=settings.slack_timeout_s)
                if settings.slack_webhook_url
                else None
            ),
        )
