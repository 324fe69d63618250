"""The emergency stop: a paused sender claims nothing and the queue waits intact; resuming sends it."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import redis.asyncio as aioredis

from julia.cache import keys
from julia.services import pause
from julia.worker.loop import Worker
from julia.worker.pause import send_retention
from tests.service.conftest import Externals, drain, post, upsert


async def _reply_without_sending(worker: Worker) -> None:
    """The inbound half only: Claude writes the reply and it is queued."""
    tarefas = await worker.claim_inbound(10)
    await asyncio.gather(*(worker._attempt(t) for t in tarefas))


async def test_paused_sender_claims_nothing_and_resuming_sends_the_queue_once(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externals: Externals,
) -> None:
    await pause.pause(redis, "teste")
    await post(cliente, upsert("Oi, tem plantão?", msg_id="P1"))
    await post(cliente, upsert("E no sábado?", numero="5511988880000", msg_id="P2"))
    await _reply_without_sending(worker)

    assert await worker.sender.dispatch() == 0
    queue = await pool.fetch("SELECT status, tentativas, locked_until FROM fila_mensagens ORDER BY id")
    assert [(f["status"], f["tentativas"], f["locked_until"]) for f in queue] == [("pendente", 0, None)] * 2
    assert externals.envio.call_count == 0
    assert (await pause.estado(redis)).motivo == "teste"

    assert await pause.resume(redis) == ["manual"]
    await drain(worker, pool)
    assert externals.envio.call_count == 2
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'") == 2
    assert await pause.resume(redis) == []


async def test_a_flag_set_by_hand_also_stops_sending(redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    await redis.set(keys.SENDING_STOP, "1")
    assert await send_retention(redis) == "tudo"
    assert (await pause.estado(redis)).pausado is True
    # Lifted like any stop (it becomes the manual cause first).
    assert await pause.resume(redis) == ["manual"]
    assert await send_retention(redis) == "nada"
    assert not await redis.exists(keys.SENDING_STOP)


async def test_redis_unreachable_reads_as_paused() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        assert await send_retention(dead) == "tudo"
    finally:
        await dead.aclose()
