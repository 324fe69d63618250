"""Completing an inbound row in one statement (julia/sql/entradas.sql concluir_entrada): the row done and
Júlia's reply stored and queued together, unless a person took the conversation meanwhile, including a
handoff still being committed when the reply arrives."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from julia.services.queues import InboundRow, LeaseLost
from julia.worker import reply
from julia.worker.loop import Worker
from julia.worker.rate import PRIORITY_REPLY
from tests.service.conftest import post, upsert

REPLIES = """
SELECT (SELECT status FROM entradas) AS entrada,
       (SELECT count(*) FROM interacoes WHERE direcao = 'saida') AS saidas,
       (SELECT count(*) FROM fila_mensagens) AS na_fila
"""


async def _claimed(cliente: httpx.AsyncClient, worker: Worker) -> InboundRow:
    await post(cliente, upsert("Tem plantão?"))
    [task] = await worker.claim_inbound(1)
    return task


async def test_reply_stored_and_queued_with_the_inbound_done(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    task = await _claimed(cliente, worker)
    await worker.entradas.done(pool, task, "Tenho sim", even_if_human=False, prompt_version="v-teste")
    assert tuple(await pool.fetchrow(REPLIES) or ()) == ("feita", 1, 1)
    linha = await pool.fetchrow(
        "SELECT f.conteudo, f.prioridade, i.versao_prompt, f.interacao_id = i.id AS ligada"
        " FROM fila_mensagens f, interacoes i WHERE i.direcao = 'saida'"
    )
    assert linha is not None
    assert tuple(linha) == ("Tenho sim", PRIORITY_REPLY, "v-teste", True)


async def test_conversa_handed_to_a_person_while_claude_wrote_stays_silent(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    task = await _claimed(cliente, worker)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await worker.entradas.done(pool, task, "Tenho sim", even_if_human=False)
    assert tuple(await pool.fetchrow(REPLIES) or ()) == ("feita", 0, 0)


async def test_handoff_aviso_goes_even_with_a_persons_conversa(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    task = await _claimed(cliente, worker)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await worker.entradas.done(pool, task, reply.AVISO_HANDOFF, even_if_human=True)
    assert tuple(await pool.fetchrow(REPLIES) or ()) == ("feita", 1, 1)


async def test_handoff_still_being_written_waits_and_wins(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    """The handoff's transaction holds the conversation row: the reply's statement waits for it, then
    reads the committed 'humano' (not its snapshot's 'julia') and queues nothing."""
    task = await _claimed(cliente, worker)
    async with pool.acquire() as handoff:
        transaction = handoff.transaction()
        await transaction.start()
        await handoff.execute("UPDATE conversations SET controlled_by = 'humano'")
        completion = asyncio.create_task(worker.entradas.done(pool, task, "Tenho sim", even_if_human=False))
        await asyncio.sleep(0.3)
        assert not completion.done()  # waiting on the conversation's row lock
        await transaction.commit()
        await asyncio.wait_for(completion, 10)
    assert tuple(await pool.fetchrow(REPLIES) or ()) == ("feita", 0, 0)


async def test_attempt_that_lost_the_row_changes_nothing(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    task = await _claimed(cliente, worker)
    await pool.execute("UPDATE entradas SET tentativas = tentativas + 1")  # another worker's claim
    with pytest.raises(LeaseLost):
        await worker.entradas.done(pool, task, "Tenho sim", even_if_human=True)
    assert tuple(await pool.fetchrow(REPLIES) or ()) == ("processando", 0, 0)
