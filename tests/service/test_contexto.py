"""What Claude is given: the doctor's static context, the open shifts of their specialty, the history."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
import httpx

from julia.data.interacoes import Interacao
from julia.worker.loop import Worker
from julia.worker.resposta import (
    INICIO_DO_HISTORICO,
    MAX_CARACTERES_HISTORICO,
    MAX_CARACTERES_MENSAGEM,
    montar_turnos,
)
from tests.service.conftest import Externos, drenar, postar, upsert


async def test_medico_conhecido_recebe_vagas_da_especialidade(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    especialidade = await pool.fetchval(
        "INSERT INTO especialidades (nome) VALUES ('Cardiologia')"
        " ON CONFLICT (nome) DO UPDATE SET nome = excluded.nome RETURNING id"
    )
    hospital = await pool.fetchval(
        "INSERT INTO hospitais (nome, cidade, estado)"
        " VALUES ('Hospital Santa Luzia', 'Campinas', 'SP') RETURNING id"
    )
    periodo = await pool.fetchval(
        "INSERT INTO periodos (nome, hora_inicio, hora_fim) VALUES ('Noturno teste', '19:00', '07:00')"
        " ON CONFLICT (nome) DO UPDATE SET nome = excluded.nome RETURNING id"
    )
    amanha = dt.date.today() + dt.timedelta(days=1)
    await pool.execute(
        "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)"
        " VALUES ($1, $2, $3, $4, 1500)",
        hospital,
        especialidade,
        periodo,
        amanha,
    )
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, sobrenome, crm, especialidade_id, status)"
        " VALUES ('+5511999990000', 'Ana', 'Souza', 'CRM/SP 123456', $1, 'ativo')",
        especialidade,
    )
    try:
        await postar(cliente, upsert("Tem plantão amanhã?"))
        await drenar(worker, pool)
    finally:
        await pool.execute("DELETE FROM vagas WHERE hospital_id = $1", hospital)
        await pool.execute("DELETE FROM hospitais WHERE id = $1", hospital)
    dinamico = json.loads(externos.claude.calls.last.request.content)["system"][1]["text"]
    assert "Ana Souza" in dinamico
    assert "especialidade: Cardiologia" in dinamico
    assert (
        f"{amanha:%d/%m/%Y}, Noturno teste (19:00-07:00), Hospital Santa Luzia, Campinas/SP: R$ 1.500,00"
        in dinamico
    )
    assert await pool.fetchval("SELECT status FROM clientes") == "ativo"  # a known doctor is no new lead


async def test_historico_em_ordem_ate_a_mensagem_respondida(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert("primeira", msg_id="A"))
    await drenar(worker, pool)
    await postar(cliente, upsert("segunda", msg_id="B"))
    await postar(cliente, upsert("terceira", msg_id="C"))
    await drenar(worker, pool)
    pedidos = [json.loads(c.request.content)["messages"] for c in externos.claude.calls]
    assert pedidos[1] == [
        {"role": "user", "content": "primeira"},
        {"role": "assistant", "content": "Resposta a: primeira"},
        {"role": "user", "content": "segunda"},
    ]
    # "terceira" arrived before the reply to "segunda" was stored: Claude still sees that reply, and
    # the message it is answering comes last.
    assert pedidos[2][-3:] == [
        {"role": "user", "content": "segunda"},
        {"role": "assistant", "content": "Resposta a: segunda"},
        {"role": "user", "content": "terceira"},
    ]


def _history_row(id: int, direcao: str, conteudo: str) -> Interacao:
    """A carregar_historico row; montar_turnos reads its id, direction and text."""
    origem = "medico" if direcao == "entrada" else "julia"
    return Interacao(id, direcao, origem, conteudo, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


def test_turnos_juntam_mensagens_seguidas_e_guardam_a_campanha_que_o_medico_responde() -> None:
    historico = [  # newest first, as carregar_historico returns it
        _history_row(6, "saida", "resposta a a"),
        _history_row(5, "entrada", "depois"),
        _history_row(4, "entrada", "b"),
        _history_row(3, "entrada", "a"),
        _history_row(2, "saida", "campanha"),
        _history_row(1, "saida", "campanha antiga"),
    ]
    assert montar_turnos(historico, ate=4) == [
        {"role": "user", "content": INICIO_DO_HISTORICO},  # the Messages API starts with the doctor
        {"role": "assistant", "content": "campanha antiga\ncampanha"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "resposta a a"},
        {"role": "user", "content": "b"},
    ]


def test_turnos_cabem_na_janela_de_contexto() -> None:
    """Issue 33: a conversation never outgrows the context window. Each message is cut at
    MAX_CARACTERES_MENSAGEM, the oldest are left out past MAX_CARACTERES_HISTORICO, and the message being
    answered is always the last turn."""
    longa = "x" * 10_000
    historico = [  # newest first
        _history_row(i, "entrada" if i % 2 else "saida", f"{i} {longa}") for i in range(20, 0, -1)
    ]
    turnos = montar_turnos(historico, ate=19)
    assert sum(len(t["content"]) for t in turnos) <= MAX_CARACTERES_HISTORICO + len(turnos)
    assert all(len(parte) <= MAX_CARACTERES_MENSAGEM for t in turnos for parte in t["content"].split("\n"))
    assert turnos[-1] == {"role": "user", "content": f"19 {longa}"[: MAX_CARACTERES_MENSAGEM - 4] + " […]"}
    assert "\n20 " in turnos[-2]["content"]  # Júlia's reply stored after it is still read


async def test_lease_vencido_devolve_a_linha_e_o_antigo_nao_conclui(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """A worker that dies (or stalls past its lease) holding a row: the row comes back to another worker,
    and the stale one's late reply is refused (tentativas is the fencing token)."""
    await postar(cliente, upsert())
    [perdida] = await worker.claim_entradas(10)
    assert await worker.claim_entradas(10) == []  # leased
    await pool.execute("UPDATE entradas SET locked_until = now() - interval '1 second'")
    [devolvida] = await worker.claim_entradas(10)
    assert (devolvida.id, devolvida.tentativas) == (perdida.id, 2)
    await worker._attempt(perdida)  # the stale worker wakes up: its reply is discarded
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 0
    await worker._attempt(devolvida)
    await drenar(worker, pool)
    assert externos.envio.call_count == 1
