"""Completing an inbound row in one statement (julia/sql/entradas.sql concluir_entrada): the row done and
Júlia's reply stored and queued together, unless a person took the conversation meanwhile, including a
handoff still being committed when the reply arrives."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from julia.services.queues import InboundRow, LeaseLost
from julia.worker import resposta
from julia.worker.loop import Worker
from julia.worker.taxa import PRIORIDADE_RESPOSTA
from tests.service.conftest import postar, upsert

RESPOSTAS = """
SELECT (SELECT status FROM entradas) AS entrada,
       (SELECT count(*) FROM interacoes WHERE direcao = 'saida') AS saidas,
       (SELECT count(*) FROM fila_mensagens) AS na_fila
"""


async def _reivindicada(cliente: httpx.AsyncClient, worker: Worker) -> InboundRow:
    await postar(cliente, upsert("Tem plantão?"))
    [tarefa] = await worker.claim_entradas(1)
    return tarefa


async def test_resposta_guardada_e_enfileirada_com_a_entrada_feita(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    tarefa = await _reivindicada(cliente, worker)
    await worker.entradas.done(pool, tarefa, "Tenho sim", even_if_human=False, prompt_version="v-teste")
    assert tuple(await pool.fetchrow(RESPOSTAS) or ()) == ("feita", 1, 1)
    linha = await pool.fetchrow(
        "SELECT f.conteudo, f.prioridade, i.versao_prompt, f.interacao_id = i.id AS ligada"
        " FROM fila_mensagens f, interacoes i WHERE i.direcao = 'saida'"
    )
    assert linha is not None
    assert tuple(linha) == ("Tenho sim", PRIORIDADE_RESPOSTA, "v-teste", True)


async def test_conversa_passada_a_uma_pessoa_enquanto_claude_escrevia_fica_em_silencio(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    tarefa = await _reivindicada(cliente, worker)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await worker.entradas.done(pool, tarefa, "Tenho sim", even_if_human=False)
    assert tuple(await pool.fetchrow(RESPOSTAS) or ()) == ("feita", 0, 0)


async def test_aviso_de_handoff_sai_mesmo_com_a_conversa_de_uma_pessoa(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    tarefa = await _reivindicada(cliente, worker)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await worker.entradas.done(pool, tarefa, resposta.AVISO_HANDOFF, even_if_human=True)
    assert tuple(await pool.fetchrow(RESPOSTAS) or ()) == ("feita", 1, 1)


async def test_handoff_ainda_sendo_gravado_espera_e_vence(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    """The handoff's transaction holds the conversation row: the reply's statement waits for it, then
    reads the committed 'humano' (not its snapshot's 'julia') and queues nothing."""
    tarefa = await _reivindicada(cliente, worker)
    async with pool.acquire() as handoff:
        transacao = handoff.transaction()
        await transacao.start()
        await handoff.execute("UPDATE conversations SET controlled_by = 'humano'")
        conclusao = asyncio.create_task(worker.entradas.done(pool, tarefa, "Tenho sim", even_if_human=False))
        await asyncio.sleep(0.3)
        assert not conclusao.done()  # waiting on the conversation's row lock
        await transacao.commit()
        await asyncio.wait_for(conclusao, 10)
    assert tuple(await pool.fetchrow(RESPOSTAS) or ()) == ("feita", 0, 0)


async def test_tentativa_que_perdeu_a_linha_nao_muda_nada(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    tarefa = await _reivindicada(cliente, worker)
    await pool.execute("UPDATE entradas SET tentativas = tentativas + 1")  # another worker's claim
    with pytest.raises(LeaseLost):
        await worker.entradas.done(pool, tarefa, "Tenho sim", even_if_human=True)
    assert tuple(await pool.fetchrow(RESPOSTAS) or ()) == ("processando", 0, 0)
