"""What Claude is given: the doctor's static context, the open shifts of their specialty, the history."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
import httpx

from julia.data.interacoes import Interacao
from julia.worker.loop import Worker
from julia.worker.reply import (
    HISTORY_START,
    MAX_HISTORY_CHARS,
    MAX_MESSAGE_CHARS,
    build_turns,
)
from tests.service.conftest import Externals, drain, post, upsert


async def test_known_medico_gets_vagas_of_the_especialidade(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
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
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    await pool.execute(
        "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)"
        " VALUES ($1, $2, $3, $4, 1500)",
        hospital,
        especialidade,
        periodo,
        tomorrow,
    )
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, sobrenome, crm, especialidade_id, status)"
        " VALUES ('+5511999990000', 'Ana', 'Souza', 'CRM/SP 123456', $1, 'ativo')",
        especialidade,
    )
    try:
        await post(cliente, upsert("Tem plantão amanhã?"))
        await drain(worker, pool)
    finally:
        await pool.execute("DELETE FROM vagas WHERE hospital_id = $1", hospital)
        await pool.execute("DELETE FROM hospitais WHERE id = $1", hospital)
    dynamic = json.loads(externals.claude.calls.last.request.content)["system"][1]["text"]
    assert "Ana Souza" in dynamic
    assert "especialidade: Cardiologia" in dynamic
    assert (
        f"{tomorrow:%d/%m/%Y}, Noturno teste (19:00-07:00), Hospital Santa Luzia, Campinas/SP: R$ 1.500,00"
        in dynamic
    )
    assert await pool.fetchval("SELECT status FROM clientes") == "ativo"  # a known doctor is no new lead


async def test_history_in_order_up_to_the_answered_message(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert("primeira", msg_id="A"))
    await drain(worker, pool)
    await post(cliente, upsert("segunda", msg_id="B"))
    await post(cliente, upsert("terceira", msg_id="C"))
    await drain(worker, pool)
    requests = [json.loads(c.request.content)["messages"] for c in externals.claude.calls]
    assert requests[1] == [
        {"role": "user", "content": "primeira"},
        {"role": "assistant", "content": "Resposta a: primeira"},
        {"role": "user", "content": "segunda"},
    ]
    # "terceira" arrived before the reply to "segunda" was stored: Claude still sees that reply, and
    # the message it is answering comes last.
    assert requests[2][-3:] == [
        {"role": "user", "content": "segunda"},
        {"role": "assistant", "content": "Resposta a: segunda"},
        {"role": "user", "content": "terceira"},
    ]


def _history_row(id: int, direcao: str, conteudo: str) -> Interacao:
    """A carregar_historico row; montar_turnos reads its id, direction and text."""
    origem = "medico" if direcao == "entrada" else "julia"
    return Interacao(id, direcao, origem, conteudo, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))


def test_turns_join_consecutive_messages_and_keep_the_campanha_the_medico_answers() -> None:
    history = [  # newest first, as carregar_historico returns it
        _history_row(6, "saida", "resposta a a"),
        _history_row(5, "entrada", "depois"),
        _history_row(4, "entrada", "b"),
        _history_row(3, "entrada", "a"),
        _history_row(2, "saida", "campanha"),
        _history_row(1, "saida", "campanha antiga"),
    ]
    assert build_turns(history, ate=4) == [
        {"role": "user", "content": HISTORY_START},  # the Messages API starts with the doctor
        {"role": "assistant", "content": "campanha antiga\ncampanha"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "resposta a a"},
        {"role": "user", "content": "b"},
    ]


def test_turns_fit_the_context_window() -> None:
    """Issue 33: a conversation never outgrows the context window. Each message is cut at
    MAX_CARACTERES_MENSAGEM, the oldest are left out past MAX_CARACTERES_HISTORICO, and the message being
    answered is always the last turn."""
    long_one = "x" * 10_000
    history = [  # newest first
        _history_row(i, "entrada" if i % 2 else "saida", f"{i} {long_one}") for i in range(20, 0, -1)
    ]
    turns = build_turns(history, ate=19)
    assert sum(len(t["content"]) for t in turns) <= MAX_HISTORY_CHARS + len(turns)
    assert all(len(part) <= MAX_MESSAGE_CHARS for t in turns for part in t["content"].split("\n"))
    assert turns[-1] == {"role": "user", "content": f"19 {long_one}"[: MAX_MESSAGE_CHARS - 4] + " […]"}
    assert "\n20 " in turns[-2]["content"]  # Júlia's reply stored after it is still read


async def test_expired_lease_gives_the_row_back_and_the_old_one_does_not_complete(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """A worker that dies (or stalls past its lease) holding a row: the row comes back to another worker,
    and the stale one's late reply is refused (tentativas is the fencing token)."""
    await post(cliente, upsert())
    [lost] = await worker.claim_inbound(10)
    assert await worker.claim_inbound(10) == []  # leased
    await pool.execute("UPDATE entradas SET locked_until = now() - interval '1 second'")
    [given_back] = await worker.claim_inbound(10)
    assert (given_back.id, given_back.tentativas) == (lost.id, 2)
    await worker._attempt(lost)  # the stale worker wakes up: its reply is discarded
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 0
    await worker._attempt(given_back)
    await drain(worker, pool)
    assert externals.envio.call_count == 1
