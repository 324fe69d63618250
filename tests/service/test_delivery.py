"""The outbound delivery protocol: intent committed before the call, unknown outcomes held as 'incerto'
and never resent, a hard cap on claims, and one slow send delaying only its own doctor."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx

from julia.data.operacao import contar_operacao
from julia.services.queues import SEND_TRIES as MAX_TENTATIVAS
from julia.worker.loop import Worker
from tests.service.conftest import Externals, drain, post, sent, upsert

SENT = "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'"


async def _one_reply_in_queue(cliente: httpx.AsyncClient, worker: Worker) -> None:
    await post(cliente, upsert())
    [task] = await worker.claim_inbound(10)
    await worker._attempt(task)


async def test_timeout_after_the_request_stays_uncertain(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Evolution slow but accepting (our 30 s timeout fires): sent once, never again; a person decides."""
    externals.envio.mock(side_effect=httpx.ReadTimeout("timed out"))
    await _one_reply_in_queue(cliente, worker)
    await drain(worker, pool)
    await drain(worker, pool)
    assert externals.envio.call_count == 1
    linha = await pool.fetchrow(
        "SELECT status, tentativas, envio_iniciado_em, last_error FROM fila_mensagens"
    )
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("incerto", 1)
    assert linha["envio_iniciado_em"] is not None
    assert "ReadTimeout" in linha["last_error"]
    assert (await contar_operacao(pool)).fila_incerta == 1


async def test_gateway_504_and_dropped_connection_stay_uncertain(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.envio.mock(
        side_effect=[httpx.Response(504, text="gateway timeout"), httpx.RemoteProtocolError("dropped")]
    )
    await post(cliente, upsert())
    await post(cliente, upsert("Outra", numero="5511988880000", msg_id="B"))
    await drain(worker, pool)
    assert externals.envio.call_count == 2
    states = [r["status"] for r in await pool.fetch("SELECT status FROM fila_mensagens")]
    assert states == ["incerto", "incerto"]


async def test_refused_before_connecting_is_retried(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """A refused connection or a 503 means Evolution did not send: safe to try again."""
    replies: list[httpx.Response | Exception] = [
        httpx.ConnectError("refused"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "id": "3EB0Y"}}),
    ]
    externals.envio.mock(side_effect=replies)
    await _one_reply_in_queue(cliente, worker)
    await drain(worker, pool)
    assert externals.envio.call_count == 3
    assert await pool.fetchval("SELECT status FROM fila_mensagens") == "enviada"
    # The reply's interaction carries the id Evolution answered, as its queue row does.
    ids = await pool.fetchrow(
        "SELECT f.whatsapp_message_id AS fila, i.whatsapp_message_id AS interacao"
        " FROM fila_mensagens f JOIN interacoes i ON i.id = f.interacao_id"
    )
    assert ids is not None
    assert (ids["fila"], ids["interacao"]) == ("3EB0Y", "3EB0Y")


async def test_evolution_429_waits_without_spending_attempts(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """A 429 is a wait on the send queue as on the inbound one (julia/services/queues.py RATE_LIMITED):
    more 429s than a message has tries, and it still goes, each counted in `esperas`, not as a try."""
    limited = [httpx.Response(429, text="too many requests")] * (MAX_TENTATIVAS + 1)
    accepted = httpx.Response(201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "id": "3EB0Z"}})
    externals.envio.mock(side_effect=[*limited, accepted])
    await _one_reply_in_queue(cliente, worker)
    await drain(worker, pool)
    assert externals.envio.call_count == MAX_TENTATIVAS + 2
    linha = await pool.fetchrow("SELECT status, tentativas, esperas FROM fila_mensagens")
    assert linha is not None
    assert tuple(linha) == ("enviada", MAX_TENTATIVAS + 2, MAX_TENTATIVAS + 1)


async def test_claimed_beyond_the_limit_without_send_becomes_error(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Senders killed after the claim and before the send, again and again: the cap still holds."""
    await _one_reply_in_queue(cliente, worker)
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'processando', tentativas = $1,"
        " locked_until = now() - interval '1 second'",
        MAX_TENTATIVAS,
    )
    await drain(worker, pool)
    assert externals.envio.call_count == 0
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens")
    assert linha is not None
    assert linha["status"] == "erro"
    assert linha["last_error"].startswith(f"gave up after {MAX_TENTATIVAS} claims")


async def test_slow_send_delays_only_its_own_medico(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """One doctor's send hangs; the other doctors' replies go out while it is still hanging."""
    slow_finished = asyncio.Event()

    async def evolution(request: httpx.Request) -> httpx.Response:
        if b"5511900000000" in request.content:
            await asyncio.sleep(2.0)
            slow_finished.set()
        return sent(request)

    externals.envio.mock(side_effect=evolution)
    for i, numero in enumerate(["5511900000000", *(f"55119000000{n:02d}" for n in range(1, 6))]):
        await post(cliente, upsert(f"Oi {i}", numero=numero, msg_id=f"M{i}"))
        [task] = await worker.claim_inbound(10)
        await worker._attempt(task)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(15):
            while await pool.fetchval(SENT) < 5:  # noqa: ASYNC110 - Postgres rows, polled
                await asyncio.sleep(0.02)
        assert not slow_finished.is_set()
        slow_one = await pool.fetchval(
            "SELECT f.status FROM fila_mensagens f JOIN clientes c ON c.id = f.cliente_id"
            " WHERE c.telefone = '+5511900000000'"
        )
        assert slow_one == "enviando"
        await asyncio.wait_for(slow_finished.wait(), 10)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 10)
    assert await pool.fetchval(SENT) == 6
    assert externals.envio.call_count == 6
