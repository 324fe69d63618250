"""Redis down or slow: every call answers from Postgres, errors are counted, caching resumes by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import servers
from julia.cache import (
    Cache,
    atualizar_medico,
    medico_by_id,
    medico_by_phone,
    open_vagas,
    static_context,
)
from julia.settings import Settings
from tests.integration.cache.conftest import Factory
from tests.support.cache import BACKOFF_S, cache_de

PAUSE_MS = 400  # how long Valkey stops answering in the slow-Redis test


@pytest.fixture
async def cliente(services: servers.Servers) -> AsyncIterator[aioredis.Redis]:
    """A client of its own: these tests break connections on purpose."""
    client = aioredis.Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


def _total(cache: Cache, counter: str) -> float:
    return sum(kind[counter] for kind in cache.counts().values())


async def test_with_redis_stopped_calls_answer_from_postgres_and_after_a_restart_hits_return(
    pool: asyncpg.Pool, services: servers.Servers, cliente: aioredis.Redis, factory: Factory
) -> None:
    server = services.redis_server
    if server is None:
        pytest.skip(
            "REDIS_URL is set: this test stops and restarts the embedded Valkey, and that one is not ours"
        )
    cache = cache_de(cliente)
    esp = await factory.especialidade()
    medico = await factory.medico(esp)
    await factory.vaga(esp)

    async def everything() -> tuple[Any, ...]:
        return (
            await medico_by_phone(pool, cache, medico["telefone"]),
            await medico_by_id(pool, cache, medico["id"]),
            await open_vagas(pool, cache, esp),
            await static_context(pool, cache, medico["id"]),
        )

    expected = await everything()
    assert await everything() == expected
    assert _total(cache, "hits") == 4
    socket = server.socket_file

    await asyncio.to_thread(server.stop)
    try:
        assert await everything() == expected
        assert _total(cache, "errors") >= 1
        assert not cache.available()
        await asyncio.sleep(2 * BACKOFF_S)  # past the breaker: the next calls really try Redis again
        atualizado = await atualizar_medico(pool, cache, medico["id"], {"primeiro_nome": "Carla"})
        assert await medico_by_id(pool, cache, medico["id"]) == atualizado
        assert _total(cache, "errors") >= 2
    finally:
        await asyncio.to_thread(server.start)

    assert server.socket_file == socket  # same unix socket: the URL every client holds still works
    await asyncio.sleep(2 * BACKOFF_S)
    depois = await everything()  # misses (a restarted Valkey is empty), stored again
    assert depois[1] == atualizado
    hits = _total(cache, "hits")
    assert await everything() == depois
    assert _total(cache, "hits") == hits + 4
    assert cache.available()


async def test_a_slow_redis_times_out_into_postgres_and_a_missed_invalidation_is_replayed(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    cliente: aioredis.Redis,
    factory: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast = cache_de(redis)  # another process's view of the same Redis, patient enough to always answer
    slow = Cache(cliente, Settings(cache_timeout_ms=50), backoff_s=BACKOFF_S)
    medico = await factory.medico()
    antes = await medico_by_id(pool, fast, medico["id"])
    assert antes is not None
    assert antes["status"] == "ativo"

    await redis.client_pause(PAUSE_MS, all=True)
    atualizado = await atualizar_medico(pool, slow, medico["id"], {"status": "inativo"})
    assert atualizado is not None
    assert atualizado["status"] == "inativo"
    assert slow.counts()["medico"]["errors"] == 1  # the generation bump timed out after 50 ms...
    assert await medico_by_id(pool, slow, medico["id"]) == atualizado  # ...and reads still answer
    assert not slow.available()
    # A timeout's text is empty: the log line names its type rather than ending at the colon.
    assert "redis unavailable, serving from postgres: TimeoutError" in caplog.messages

    await asyncio.sleep(PAUSE_MS / 1000 + 2 * BACKOFF_S)
    # Redis kept the pre-write entry through the pause; the missed bump is replayed before any read.
    assert await medico_by_id(pool, slow, medico["id"]) == atualizado
    assert slow.available()
    hits = fast.counts()["medico"]["hits"]
    assert await medico_by_id(pool, fast, medico["id"]) == atualizado
    assert fast.counts()["medico"]["hits"] == hits + 1  # what `lento` reloaded was cached again
