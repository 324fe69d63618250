"""What the service benchmarks share: julia's settings pointed at the perf servers, Evolution's webhook
body (its real wire format, docs/integrations.md), the doctors who write in, and the fake Claude of the
message path.

Claude is the one thing faked in the message path: julia.testing.claude's in-process transport, answering
"(perf) Recebi: <the doctor's line>" with the usage of a cached prompt.
"""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from pydantic import SecretStr

from julia import db
from julia.perf.context import Perf
from julia.settings import Settings
from julia.testing import claude, evolution

EVOLUTION_KEY = "chave-perf"
EVOLUTION_URL = "http://evolution.invalid"  # never called: the message path ends at the queued reply
ANTHROPIC_URL = "http://anthropic.invalid"
REPLY_PREFIX = "(perf) "
# A prompt read from Anthropic's cache, as julia's system prompt is in production.
USO_PERF = {
    "input_tokens": 120,
    "output_tokens": 40,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 1800,
}

# Doctors a message can come from and be answered by Claude: registered with a specialty (so the shifts
# are read), and not in a conversation a person has taken over (that one is only mirrored).
DOCTORS = """
SELECT c.id, c.telefone FROM clientes c
WHERE c.especialidade_id IS NOT NULL AND c.status = 'ativo'
  AND NOT EXISTS (
      SELECT 1 FROM conversations v
      WHERE v.cliente_id = c.id AND v.status = 'ativa' AND v.controlled_by = 'humano'
  )
ORDER BY c.id
LIMIT $1
"""


def settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Production defaults (pool sizes, TTLs, timeouts) on the perf servers; Chatwoot and Slack off."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "evolution_url": EVOLUTION_URL,
        "evolution_api_key": SecretStr(EVOLUTION_KEY),
        "evolution_webhook_sending_key": True,  # the load posts the `apikey` header
        "anthropic_api_key": SecretStr("perf"),
        "anthropic_base_url": ANTHROPIC_URL,
        "anthropic_max_retries": 0,
        "log_level": "WARNING",
        # The message path writes from each of its 100 doctors about ten times a second, far over any
        # number's real limit and daily budget: every message must be answered to be measured. The counts
        # themselves still run (the webhook's one Redis round trip, the worker's two: perf/budgets.toml).
        "inbound_per_minute": 1_000_000,
        "inbound_per_day": 1_000_000_000,
        "claude_tokens_per_doctor_day": 1_000_000_000_000,
        "claude_tokens_per_day": 1_000_000_000_000,
    }
    return Settings(**{**values, **overrides})


async def connect(
    cleanup: contextlib.AsyncExitStack, perf: Perf, min_size: int, max_size: int
) -> tuple[asyncpg.Pool, aioredis.Redis]:
    """A pool on the perf database and a Redis client, closed by `cleanup` (LIFO, and also when the setup
    fails: a pool left open keeps pytest's session loop from closing, and the whole run hangs)."""
    pool = await db.create_pool(perf.dsn, min_size=min_size, max_size=max_size)
    cleanup.push_async_callback(pool.close)
    redis = aioredis.Redis.from_url(perf.services.redis_url)
    cleanup.push_async_callback(redis.aclose)
    return pool, redis


async def doctors(conn: asyncpg.Connection, limit: int) -> list[tuple[int, str]]:
    rows = await conn.fetch(DOCTORS, limit)
    if len(rows) < limit:
        raise RuntimeError(f"the seed has {len(rows)} doctors who can be answered; {limit} wanted")
    return [(int(row["id"]), str(row["telefone"])) for row in rows]


async def phones(conn: asyncpg.Connection, limit: int) -> list[str]:
    """Any `limit` seeded doctors' phones (a webhook stores a message from anyone, even a blocked doctor)."""
    rows = await conn.fetch("SELECT telefone FROM clientes ORDER BY id LIMIT $1", limit)
    if len(rows) < limit:
        raise RuntimeError(f"the seed has {len(rows)} doctors; {limit} wanted (run with --doctors={limit})")
    return [str(row["telefone"]) for row in rows]


def upsert(telefone: str, msg_id: str, texto: str = "Tem plantão de clínica no sábado?") -> dict[str, Any]:
    """A `messages.upsert` webhook from `telefone` (E.164), as Evolution API v2 posts it."""
    return evolution.message_received(
        texto,
        numero=telefone.removeprefix("+"),
        msg_id=msg_id,
        nome="Dra. Perf",
        server_url=EVOLUTION_URL,
    )


def fake_claude(latency_s: float) -> claude.Transport:
    """Anthropic after `latency_s`: a short text quoting the doctor's line, usage as a cached prompt."""
    return claude.Transport(latency_s, _eco, usage=USO_PERF, prefix="perf")


def _eco(corpo: dict[str, Any], n: int) -> tuple[claude.Blocks, str]:
    last_one = corpo["messages"][-1]["content"].splitlines()[-1]
    return [claude.texto(f"{REPLY_PREFIX}Recebi: {last_one}")], "end_turn"
