"""Campaigns against real Postgres and Redis: creation (idempotent, eligible doctors only, the rate, the
sending hours in São Paulo time), the report, opt-out, and the sender's last check."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from julia.data.fila_mensagens import reivindicar_mensagens
from julia.services import campanhas, gauges, pause
from julia.services.opt_out import CONFIRMATION, CONFIRMATION_BY_TEAM, register_opt_out_tool
from julia.settings import Settings
from julia.worker.loop import Worker
from julia.worker.rate import PRIORITY_REPLY
from tests.service.conftest import METRICS, Externals, drain, post, sent, upsert

SP = ZoneInfo("America/Sao_Paulo")
UTC = dt.UTC
TOKEN = "token-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Any hour: these tests must not depend on the wall clock. The hours have tests of their own.
    return settings.model_copy(
        update={"admin_token": SecretStr(TOKEN), "campanha_hora_inicio": 0, "campanha_hora_fim": 24}
    )


async def _especialidade(pool: asyncpg.Pool, nome: str) -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO especialidades (nome) VALUES ($1)"
            " ON CONFLICT (nome) DO UPDATE SET nome = excluded.nome RETURNING id",
            nome,
        )
    )


async def _medico(
    pool: asyncpg.Pool,
    telefone: str,
    *,
    nome: str | None = "Ana",
    status: str = "ativo",
    tags: Sequence[str] = ("cardio",),
    especialidade_id: int | None = None,
    crm: str | None = "CRM/SP 123456",
) -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO clientes (telefone, primeiro_nome, status, tags, especialidade_id, crm)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            telefone,
            nome,
            status,
            list(tags),
            especialidade_id,
            crm,
        )
    )


async def _agendas(pool: asyncpg.Pool, campanha_id: str) -> list[dt.datetime]:
    linhas = await pool.fetch(
        "SELECT agendar_para FROM fila_mensagens WHERE campanha_id = $1 ORDER BY cliente_id", campanha_id
    )
    return [linha["agendar_para"] for linha in linhas]


def _sp(texto: str) -> dt.datetime:
    return dt.datetime.fromisoformat(texto).replace(tzinfo=SP)


# --- creation ----------------------------------------------------------------------------------


async def test_creation_queues_eligible_doctors_once_and_the_same_id_again_creates_nothing(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    cardio = await _especialidade(pool, "Cardiologia")
    eligible = [
        await _medico(pool, "+5511900000001", nome="Ana", especialidade_id=cardio),
        await _medico(pool, "+5511900000002", nome=None, status="novo"),
    ]
    for i, status in enumerate(("opt_out", "bloqueado", "inativo")):
        await _medico(pool, f"+551190000001{i}", status=status)
    await _medico(pool, "+5511900000020", tags=("pediatria",))
    corpo = {"id": "dez-cardio", "tag": "cardio", "texto": "Oi {primeiro_nome}! Plantões de {especialidade}."}

    first_one = await cliente.post("/admin/campanhas", json=corpo, headers=AUTH)
    assert first_one.status_code == 201, first_one.text
    assert first_one.json()["enfileiradas"] == 2
    assert first_one.json()["criada"] is True

    again = await cliente.post("/admin/campanhas", json={**corpo, "texto": "outro"}, headers=AUTH)
    assert again.status_code == 200
    assert again.json()["enfileiradas"] == 2
    assert again.json()["criada"] is False
    assert again.json()["texto"] == corpo["texto"]  # the existing campaign, unchanged

    queue = await pool.fetch(
        "SELECT cliente_id, conteudo, prioridade, status, conversa_id FROM fila_mensagens ORDER BY cliente_id"
    )
    assert [f["cliente_id"] for f in queue] == eligible
    assert queue[0]["conteudo"] == "Oi Ana! Plantões de Cardiologia." + campanhas.FOOTER
    assert queue[1]["conteudo"] == "Oi doutor(a)! Plantões de sua especialidade." + campanhas.FOOTER
    assert all(f["prioridade"] < PRIORITY_REPLY and f["status"] == "pendente" for f in queue)


async def test_audience_by_specialty_and_crm_state(pool: asyncpg.Pool, settings: Settings) -> None:
    ortho = await _especialidade(pool, "Ortopedia")
    sp = await _medico(pool, "+5511900000001", tags=(), especialidade_id=ortho, crm="CRM/SP 1")
    await _medico(pool, "+5521900000002", tags=(), especialidade_id=ortho, crm="CRM/RJ 2")
    await _medico(pool, "+5511900000003", tags=(), especialidade_id=ortho, crm=None)
    await _medico(pool, "+5511900000004", tags=(), crm="CRM/SP 4")
    nova = campanhas.NovaCampanha(id="orto-sp", especialidade_id=ortho, estado="SP", texto="Oi")
    campanha = await campanhas.criar_campanha(pool, settings, nova)
    assert campanha.enfileiradas == 1
    assert await pool.fetchval("SELECT array_agg(cliente_id) FROM fila_mensagens") == [sp]


@pytest.mark.parametrize(
    ("corpo", "excerpt"),
    [
        ({"id": "x", "tag": "cardio", "texto": "Oi {nome}"}, "unknown placeholder {nome}"),
        ({"id": "x", "texto": "Oi"}, "needs tag or especialidade_id"),
        ({"id": "x", "tag": "cardio", "especialidade_id": 999999, "texto": "Oi"}, "does not exist"),
        ({"id": "com espaço", "tag": "cardio", "texto": "Oi"}, "pattern"),
    ],
)
async def test_bad_campaigns_are_refused_with_422(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, corpo: dict[str, object], excerpt: str
) -> None:
    resposta = await cliente.post("/admin/campanhas", json=corpo, headers=AUTH)
    assert resposta.status_code == 422
    assert excerpt in resposta.text
    assert await pool.fetchval("SELECT count(*) FROM campanhas") == 0


async def test_campaign_routes_need_the_admin_token(cliente: httpx.AsyncClient) -> None:
    assert (await cliente.post("/admin/campanhas", json={})).status_code == 401
    assert (
        await cliente.get("/admin/campanhas/x", headers={"Authorization": "Bearer no"})
    ).status_code == 401
    assert (await cliente.get("/admin/campanhas/nao-existe", headers=AUTH)).status_code == 404


# --- the rate and the sending hours ------------------------------------------------------------


async def _create(
    pool: asyncpg.Pool, settings: Settings, inicio: dt.datetime, por_minuto: int, *, horas: tuple[int, int]
) -> list[dt.datetime]:
    adjusted = settings.model_copy(update={"campanha_hora_inicio": horas[0], "campanha_hora_fim": horas[1]})
    nova = campanhas.NovaCampanha(id="c1", tag="cardio", texto="Oi", inicio=inicio, por_minuto=por_minuto)
    await campanhas.criar_campanha(pool, adjusted, nova)
    return await _agendas(pool, "c1")


async def test_the_rate_spreads_doctors_evenly_from_the_start(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(5):
        await _medico(pool, f"+551190000000{i}")
    inicio = _sp("2030-12-01T10:00:00")
    agendas = await _create(pool, settings, inicio, 6, horas=(8, 20))
    assert agendas == [inicio + dt.timedelta(seconds=10 * i) for i in range(5)]


async def test_slots_past_closing_move_to_the_next_opening_across_midnight(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    for i in range(4):
        await _medico(pool, f"+551190000000{i}")
    agendas = await _create(pool, settings, _sp("2030-12-01T19:58:00"), 1, horas=(8, 20))
    assert agendas == [
        _sp("2030-12-01T19:58:00"),
        _sp("2030-12-01T19:59:00"),
        _sp("2030-12-02T08:00:00"),  # the rate goes on from the opening: no burst at 08:00
        _sp("2030-12-02T08:01:00"),
    ]


async def test_the_day_is_sao_paulos_not_utcs(pool: asyncpg.Pool, settings: Settings) -> None:
    """22:30 in São Paulo is 01:30 UTC of the next day: the next opening is 08:00 of São Paulo's next
    day (11:00 UTC on 2 Dec), not a day later, and not 08:00 UTC."""
    await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    inicio = dt.datetime(2030, 12, 2, 1, 30, tzinfo=UTC)
    agendas = await _create(pool, settings, inicio, 1, horas=(8, 20))
    assert agendas == [
        dt.datetime(2030, 12, 2, 11, 0, tzinfo=UTC),
        dt.datetime(2030, 12, 2, 11, 1, tzinfo=UTC),
    ]


async def test_a_start_before_opening_waits_for_it_and_a_naive_time_is_sao_paulos(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await _medico(pool, "+5511900000001")
    agendas = await _create(pool, settings, dt.datetime(2030, 12, 1, 5, 0), 10, horas=(8, 20))
    assert agendas == [_sp("2030-12-01T08:00:00")]


async def test_a_window_that_crosses_midnight(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(3):
        await _medico(pool, f"+551190000000{i}")
    # 22:00 to 06:00: 05:59 is open, 06:00 is not, so the third goes at 22:00 that evening.
    agendas = await _create(pool, settings, _sp("2030-12-02T05:58:00"), 1, horas=(22, 6))
    assert agendas == [_sp("2030-12-02T05:58:00"), _sp("2030-12-02T05:59:00"), _sp("2030-12-02T22:00:00")]


async def test_zero_to_24_is_any_hour(pool: asyncpg.Pool, settings: Settings) -> None:
    await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    agendas = await _create(pool, settings, _sp("2030-12-01T23:59:30"), 1, horas=(0, 24))
    assert agendas == [_sp("2030-12-01T23:59:30"), _sp("2030-12-02T00:00:30")]


async def test_a_start_in_the_past_starts_now_not_in_a_burst(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(3):
        await _medico(pool, f"+551190000000{i}")
    antes = dt.datetime.now(UTC)
    agendas = await _create(pool, settings, antes - dt.timedelta(days=1), 1, horas=(0, 24))
    assert agendas[0] >= antes
    assert [b - a for a, b in itertools.pairwise(agendas)] == [dt.timedelta(minutes=1)] * 2


def test_equal_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="use 0 and 24"):
        Settings(campanha_hora_inicio=8, campanha_hora_fim=8)


# --- sending, priority, pause, report ----------------------------------------------------------


async def _campanha_already_due(pool: asyncpg.Pool, settings: Settings, campanha_id: str = "agora") -> None:
    """A campaign whose every message is due now (its schedule moved an hour back, as if it had started
    then: creation itself never schedules in the past)."""
    nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi {primeiro_nome}", por_minuto=1000)
    await campanhas.criar_campanha(pool, settings, nova)
    await pool.execute(
        "UPDATE fila_mensagens SET agendar_para = agendar_para - interval '1 hour' WHERE campanha_id = $1",
        campanha_id,
    )


async def test_a_waiting_doctors_reply_is_claimed_before_campaign_rows(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker
) -> None:
    for i in range(3):
        await _medico(pool, f"+551190000000{i}")
    await _campanha_already_due(pool, settings)
    await post(cliente, upsert("Tem plantão sábado?"))
    tarefas = await worker.claim_inbound(10)
    await worker._attempt(tarefas[0])  # the reply is queued after the campaign rows, and due later

    first_one = await reivindicar_mensagens(pool, 1, 60)
    assert first_one[0].conteudo == "Resposta a: Tem plantão sábado?"


async def test_pause_during_a_campaign_loses_nothing_and_sends_each_doctor_once(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, worker: Worker, externals: Externals
) -> None:
    phones = [f"+551190000000{i}" for i in range(6)]
    for telefone in phones:
        await _medico(pool, telefone)
    await _campanha_already_due(pool, settings)
    worker.sender._batch = 2
    assert await worker.sender.dispatch() == 2
    await worker.sender.wait_for()

    await pause.pause(redis, "campanha errada?")
    assert await worker.sender.dispatch() == 0
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 4

    await pause.resume(redis)
    await drain(worker, pool)
    assert sorted(numero for numero, _ in externals.sent_texts()) == sorted(t[1:] for t in phones)
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'") == 6


async def test_a_sent_campaign_message_is_history_claude_reads_and_chatwoot_shows(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externals: Externals
) -> None:
    cliente_id = await _medico(pool, "+5511999990000")  # the number upsert() writes from
    await _campanha_already_due(pool, settings, "hist")
    await drain(worker, pool)

    interacao = await pool.fetchrow(
        "SELECT i.conteudo, i.direcao, i.origem, i.whatsapp_message_id, c.status "
        "FROM fila_mensagens f JOIN interacoes i ON i.id = f.interacao_id "
        "JOIN conversations c ON c.id = f.conversa_id WHERE f.campanha_id = 'hist'"
    )
    assert interacao is not None
    assert interacao["conteudo"].startswith("Oi Ana")
    assert (interacao["direcao"], interacao["origem"], interacao["status"]) == ("saida", "julia", "ativa")
    assert interacao["whatsapp_message_id"].startswith("3EB0")  # what Evolution answered
    mirrored_ones = externals.mirrored_ones()
    assert [(m["content"], m["message_type"]) for m in mirrored_ones] == [(interacao["conteudo"], "outgoing")]

    await post(cliente, upsert("Tenho interesse!", msg_id="R-hist"))
    await drain(worker, pool)
    pedido = json.loads(externals.claude.calls[-1].request.content)
    assert pedido["messages"][-2:] == [  # Claude reads the offer the doctor is answering
        {"role": "assistant", "content": interacao["conteudo"]},
        {"role": "user", "content": "Tenho interesse!"},
    ]
    conversas = await pool.fetchval("SELECT count(*) FROM conversations WHERE cliente_id = $1", cliente_id)
    assert conversas == 1  # the reply went into the conversation the campaign opened


async def test_report_counts_sent_replied_and_opted_out_and_metrics_show_them(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externals: Externals,
) -> None:
    await _medico(pool, "+5511999990000")  # the number upsert() writes from
    await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    await _campanha_already_due(pool, settings, "rel")
    does_not_exist = {"jid": "5511900000002@s.whatsapp.net", "exists": False, "number": "5511900000002"}
    without_whatsapp = httpx.Response(
        400, json={"status": 400, "error": "Bad Request", "response": {"message": [does_not_exist]}}
    )

    def evolution(request: httpx.Request) -> httpx.Response:
        return without_whatsapp if json.loads(request.content)["number"] == "5511900000002" else sent(request)

    externals.envio.mock(side_effect=evolution)
    await drain(worker, pool)
    await post(cliente, upsert("Tenho interesse!", msg_id="R1"))
    await post(cliente, upsert("PARAR", numero="5511900000001", msg_id="R2"))
    await drain(worker, pool)

    resposta = await cliente.get("/admin/campanhas/rel", headers=AUTH)
    assert resposta.status_code == 200
    assert resposta.json()["relatorio"] == {
        "enfileiradas": 3,
        "pendentes": 0,
        "enviadas": 2,
        "entregues": 0,  # no receipt came: test_recibos.py has them
        "lidas": 0,
        "nao_entregues": 0,
        "falhas": 1,
        "canceladas": 0,
        "respondidas": 2,  # both wrote after it reached them; one of them to opt out
        "opt_out": 1,
    }
    # /metrics shows what the worker's last alert round published (julia.services.gauges).
    await gauges.publish(redis, pool, None)
    metrics = (await cliente.get("/metrics", headers=METRICS)).text
    assert 'julia_campanha_mensagens{campanha="rel",estado="respondidas"} 2.0' in metrics
    assert 'julia_campanha_mensagens{campanha="rel",estado="falhas"} 1.0' in metrics


# --- opt-out -----------------------------------------------------------------------------------


async def test_parar_opts_out_at_once_cancels_pending_rows_and_confirms_without_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externals: Externals
) -> None:
    medico = await _medico(pool, "+5511999990000")
    other_one = await _medico(pool, "+5511900000001")
    future_one = dt.datetime.now(UTC) + dt.timedelta(days=2)
    for campanha_id in ("a", "b"):
        nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi", inicio=future_one)
        await campanhas.criar_campanha(pool, settings, nova)

    await post(cliente, upsert("Não quero mais receber!"))
    await drain(worker, pool, due_only=True)

    assert externals.claude.call_count == 0
    assert externals.sent_texts() == [("5511999990000", CONFIRMATION_BY_TEAM)]
    assert await pool.fetchval("SELECT status FROM clientes WHERE id = $1", medico) == "opt_out"
    states = await pool.fetch(
        "SELECT cliente_id, status, count(*) AS n FROM fila_mensagens WHERE campanha_id IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1"
    )
    assert [tuple(e) for e in states] == [(medico, "cancelada", 2), (other_one, "pendente", 2)]

    # Writing again reaches a person (mirrored to Chatwoot), never Claude nor an automatic reply.
    await post(cliente, upsert("Oi, voltei", msg_id="DEPOIS"))
    await drain(worker, pool, due_only=True)
    assert externals.claude.call_count == 0
    assert len(externals.sent_texts()) == 1
    mirrored_ones = externals.mirrored_ones()
    assert {"content": "Oi, voltei", "message_type": "incoming", "private": False} in mirrored_ones

    # And no campaign queues them again.
    nova = campanhas.NovaCampanha(id="c", tag="cardio", texto="Oi", inicio=future_one)
    assert (await campanhas.criar_campanha(pool, settings, nova)).enfileiradas == 1


async def test_the_sender_rechecks_opt_out_at_send_time(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, externals: Externals
) -> None:
    went_out = await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    await _campanha_already_due(pool, settings)
    # An opt-out that lands after the rows were claimed: nothing cancelled them, the send must not go.
    linhas = await reivindicar_mensagens(pool, 10, 60)
    await pool.execute("UPDATE clientes SET status = 'opt_out' WHERE id = $1", went_out)
    await pool.execute(
        "UPDATE fila_mensagens SET locked_until = now() - interval '1 second' WHERE id = ANY($1::bigint[])",
        [linha.id for linha in linhas],
    )
    await drain(worker, pool)
    assert [numero for numero, _ in externals.sent_texts()] == ["5511900000002"]
    assert (
        await pool.fetchval("SELECT status FROM fila_mensagens WHERE cliente_id = $1", went_out)
        == "cancelada"
    )


async def test_claudes_tool_opts_out_in_the_callers_transaction_with_the_fixed_confirmation(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    medico = await _medico(pool, "+5511900000001")
    conversa = await pool.fetchval("INSERT INTO conversations (cliente_id) VALUES ($1) RETURNING id", medico)
    future_one = dt.datetime.now(UTC) + dt.timedelta(days=1)
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="t", tag="cardio", texto="Oi", inicio=future_one)
    )
    async with pool.acquire() as conn, conn.transaction():
        resultado = await register_opt_out_tool(conn, medico, conversa, {}, with_team=False)
    assert "não escreva outra" in resultado
    assert await pool.fetchval("SELECT status FROM clientes WHERE id = $1", medico) == "opt_out"
    queues = await pool.fetch("SELECT status, campanha_id, conteudo FROM fila_mensagens ORDER BY id")
    assert [tuple(f) for f in queues] == [
        ("cancelada", "t", queues[0]["conteudo"]),
        ("pendente", None, CONFIRMATION),
    ]
    # A second call (the backstop after the tool) queues nothing more.
    async with pool.acquire() as conn, conn.transaction():
        await register_opt_out_tool(conn, medico, conversa, {}, with_team=False)
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 2
