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
from tests.service.conftest import Externos, drenar, enviado, postar, upsert

ENVIADAS = "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'"


async def _uma_resposta_na_fila(cliente: httpx.AsyncClient, worker: Worker) -> None:
    await postar(cliente, upsert())
    [tarefa] = await worker.claim_entradas(10)
    await worker._attempt(tarefa)


async def test_timeout_depois_do_pedido_fica_incerto(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Evolution slow but accepting (our 30 s timeout fires): sent once, never again; a person decides."""
    externos.envio.mock(side_effect=httpx.ReadTimeout("timed out"))
    await _uma_resposta_na_fila(cliente, worker)
    await drenar(worker, pool)
    await drenar(worker, pool)
    assert externos.envio.call_count == 1
    linha = await pool.fetchrow(
        "SELECT status, tentativas, envio_iniciado_em, last_error FROM fila_mensagens"
    )
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("incerto", 1)
    assert linha["envio_iniciado_em"] is not None
    assert "ReadTimeout" in linha["last_error"]
    assert (await contar_operacao(pool)).fila_incerta == 1


async def test_gateway_504_e_conexao_caida_ficam_incertos(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.envio.mock(
        side_effect=[httpx.Response(504, text="gateway timeout"), httpx.RemoteProtocolError("dropped")]
    )
    await postar(cliente, upsert())
    await postar(cliente, upsert("Outra", numero="5511988880000", msg_id="B"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 2
    estados = [r["status"] for r in await pool.fetch("SELECT status FROM fila_mensagens")]
    assert estados == ["incerto", "incerto"]


async def test_recusado_antes_de_conectar_e_retentado(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """A refused connection or a 503 means Evolution did not send: safe to try again."""
    respostas: list[httpx.Response | Exception] = [
        httpx.ConnectError("refused"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "id": "3EB0Y"}}),
    ]
    externos.envio.mock(side_effect=respostas)
    await _uma_resposta_na_fila(cliente, worker)
    await drenar(worker, pool)
    assert externos.envio.call_count == 3
    assert await pool.fetchval("SELECT status FROM fila_mensagens") == "enviada"
    # The reply's interaction carries the id Evolution answered, as its queue row does.
    ids = await pool.fetchrow(
        "SELECT f.whatsapp_message_id AS fila, i.whatsapp_message_id AS interacao"
        " FROM fila_mensagens f JOIN interacoes i ON i.id = f.interacao_id"
    )
    assert ids is not None
    assert (ids["fila"], ids["interacao"]) == ("3EB0Y", "3EB0Y")


async def test_429_da_evolution_espera_sem_gastar_tentativas(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """A 429 is a wait on the send queue as on the inbound one (julia/services/queues.py RATE_LIMITED):
    more 429s than a message has tries, and it still goes, each counted in `esperas`, not as a try."""
    limitadas = [httpx.Response(429, text="too many requests")] * (MAX_TENTATIVAS + 1)
    aceita = httpx.Response(201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "id": "3EB0Z"}})
    externos.envio.mock(side_effect=[*limitadas, aceita])
    await _uma_resposta_na_fila(cliente, worker)
    await drenar(worker, pool)
    assert externos.envio.call_count == MAX_TENTATIVAS + 2
    linha = await pool.fetchrow("SELECT status, tentativas, esperas FROM fila_mensagens")
    assert linha is not None
    assert tuple(linha) == ("enviada", MAX_TENTATIVAS + 2, MAX_TENTATIVAS + 1)


async def test_reivindicada_alem_do_limite_sem_envio_vira_erro(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Senders killed after the claim and before the send, again and again: the cap still holds."""
    await _uma_resposta_na_fila(cliente, worker)
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'processando', tentativas = $1,"
        " locked_until = now() - interval '1 second'",
        MAX_TENTATIVAS,
    )
    await drenar(worker, pool)
    assert externos.envio.call_count == 0
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens")
    assert linha is not None
    assert linha["status"] == "erro"
    assert linha["last_error"].startswith(f"gave up after {MAX_TENTATIVAS} claims")


async def test_envio_lento_atrasa_so_o_proprio_medico(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """One doctor's send hangs; the other doctors' replies go out while it is still hanging."""
    lento_terminou = asyncio.Event()

    async def evolution(request: httpx.Request) -> httpx.Response:
        if b"5511900000000" in request.content:
            await asyncio.sleep(2.0)
            lento_terminou.set()
        return enviado(request)

    externos.envio.mock(side_effect=evolution)
    for i, numero in enumerate(["5511900000000", *(f"55119000000{n:02d}" for n in range(1, 6))]):
        await postar(cliente, upsert(f"Oi {i}", numero=numero, msg_id=f"M{i}"))
        [tarefa] = await worker.claim_entradas(10)
        await worker._attempt(tarefa)
    parar = asyncio.Event()
    rodando = asyncio.create_task(worker.run(parar))
    try:
        async with asyncio.timeout(15):
            while await pool.fetchval(ENVIADAS) < 5:  # noqa: ASYNC110 - Postgres rows, polled
                await asyncio.sleep(0.02)
        assert not lento_terminou.is_set()
        lenta = await pool.fetchval(
            "SELECT f.status FROM fila_mensagens f JOIN clientes c ON c.id = f.cliente_id"
            " WHERE c.telefone = '+5511900000000'"
        )
        assert lenta == "enviando"
        await asyncio.wait_for(lento_terminou.wait(), 10)
    finally:
        parar.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(rodando, 10)
    assert await pool.fetchval(ENVIADAS) == 6
    assert externos.envio.call_count == 6
