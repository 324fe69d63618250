"""Inbound attempts: a hard cap whatever brings a row back, never a second attempt of a row this worker
still runs, a heartbeat that keeps a slow attempt's lease, a deadline that ends a hung one."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx

from julia.services.queues import INBOUND_TRIES as MAX_TENTATIVAS
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from tests.service.conftest import Externos, drenar, postar, resposta_claude, upsert

EXPIRAR = "UPDATE entradas SET locked_until = now() - interval '1 second' WHERE status = 'processando'"
EM_CURSO = "SELECT count(*) = 1 FROM entradas WHERE status = 'processando'"


async def test_lease_vencido_alem_do_limite_vira_erro(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Attempts that never report (each worker killed mid-call) stop at the cap, kept as 'erro'."""
    await postar(cliente, upsert())
    for tentativa in range(1, MAX_TENTATIVAS + 1):
        [reivindicada] = await worker.claim_entradas(10)
        assert reivindicada.tentativas == tentativa
        await pool.execute(EXPIRAR)
    assert await worker.claim_entradas(10) == []
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", MAX_TENTATIVAS)
    assert linha["last_error"].startswith(f"gave up after {MAX_TENTATIVAS} tries")
    assert externos.claude.call_count == 0
    # The doctor's next message is answered: the failed row no longer holds the doctor's queue.
    await postar(cliente, upsert("De novo?", msg_id="B"))
    await drenar(worker, pool)
    assert externos.textos_enviados() == [("5511999990000", "Resposta a: De novo?")]


async def test_linha_em_curso_neste_worker_nao_e_reivindicada(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    await postar(cliente, upsert())
    [linha] = await worker.claim_entradas(10)
    em_curso = asyncio.get_running_loop().create_future()
    worker._entradas_em_curso[linha.id] = em_curso  # type: ignore[assignment]
    await pool.execute(EXPIRAR)  # e.g. Postgres was down and the heartbeat could not renew it
    assert await worker.claim_entradas(10) == []
    del worker._entradas_em_curso[linha.id]
    [de_novo] = await worker.claim_entradas(10)
    assert de_novo.tentativas == 2
    em_curso.cancel()


async def _rodar(worker: Worker, pool: asyncpg.Pool, condicao: str, limite_s: float = 15.0) -> None:
    parar = asyncio.Event()
    tarefa = asyncio.create_task(worker.run(parar))
    try:
        async with asyncio.timeout(limite_s):
            while not await pool.fetchval(condicao):  # noqa: ASYNC110 - Postgres rows, polled
                await asyncio.sleep(0.05)
    finally:
        parar.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(tarefa, 10)


async def test_claude_mais_lento_que_o_lease_responde_uma_vez(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, servicos: WorkerContext, externos: Externos
) -> None:
    """A 1 s lease and a 2.5 s Claude: the heartbeat keeps the row, a second worker claims nothing."""
    servicos.settings.queue_lease_s = 1
    outro = Worker(servicos, intervalo_s=0.02)

    async def lento(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2.5)
        return resposta_claude("Devagar e sempre")

    externos.claude.mock(side_effect=lento)
    await postar(cliente, upsert())

    async def concorrente() -> None:
        while not await pool.fetchval(EM_CURSO):  # noqa: ASYNC110 - Postgres rows, polled
            await asyncio.sleep(0.01)  # the first worker claims it first
        while True:
            assert await outro.claim_entradas(10) == []
            await asyncio.sleep(0.1)

    vigia = asyncio.create_task(concorrente())
    await _rodar(
        Worker(servicos, intervalo_s=0.02),
        pool,
        "SELECT count(*) = 1 FROM fila_mensagens WHERE status = 'enviada'",
    )
    assert not vigia.done()  # the other worker never got the row
    vigia.cancel()
    assert externos.claude.call_count == 1
    assert await pool.fetchval("SELECT tentativas FROM entradas") == 1
    assert externos.textos_enviados() == [("5511999990000", "Devagar e sempre")]


async def test_claude_pendurado_acaba_em_erro_no_prazo(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, servicos: WorkerContext, externos: Externos
) -> None:
    """A call that never answers (no SDK timeout fires) ends at the attempt's deadline, then at the cap."""

    async def pendurado(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    externos.claude.mock(side_effect=pendurado)
    await postar(cliente, upsert())
    worker = Worker(servicos, intervalo_s=0.02, backoff_entrada_s=0.01, prazo_tentativa_s=0.3)
    await _rodar(worker, pool, "SELECT count(*) = 1 FROM entradas WHERE status = 'erro'")
    linha = await pool.fetchrow("SELECT tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["tentativas"], linha["last_error"]) == (
        MAX_TENTATIVAS,
        "attempt exceeded its deadline of 0.3 s",
    )
    assert externos.envio.call_count == 0
