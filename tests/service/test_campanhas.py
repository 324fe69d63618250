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
from julia.services import campanhas, gauges, pausa
from julia.services.opt_out import CONFIRMACAO, CONFIRMACAO_COM_EQUIPE, ferramenta_registrar_opt_out
from julia.settings import Settings
from julia.worker.loop import Worker
from julia.worker.taxa import PRIORIDADE_RESPOSTA
from tests.service.conftest import METRICAS, Externos, drenar, enviado, postar, upsert

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
    elegiveis = [
        await _medico(pool, "+5511900000001", nome="Ana", especialidade_id=cardio),
        await _medico(pool, "+5511900000002", nome=None, status="novo"),
    ]
    for i, status in enumerate(("opt_out", "bloqueado", "inativo")):
        await _medico(pool, f"+551190000001{i}", status=status)
    await _medico(pool, "+5511900000020", tags=("pediatria",))
    corpo = {"id": "dez-cardio", "tag": "cardio", "texto": "Oi {primeiro_nome}! Plantões de {especialidade}."}

    primeira = await cliente.post("/admin/campanhas", json=corpo, headers=AUTH)
    assert primeira.status_code == 201, primeira.text
    assert primeira.json()["enfileiradas"] == 2
    assert primeira.json()["criada"] is True

    de_novo = await cliente.post("/admin/campanhas", json={**corpo, "texto": "outro"}, headers=AUTH)
    assert de_novo.status_code == 200
    assert de_novo.json()["enfileiradas"] == 2
    assert de_novo.json()["criada"] is False
    assert de_novo.json()["texto"] == corpo["texto"]  # the existing campaign, unchanged

    fila = await pool.fetch(
        "SELECT cliente_id, conteudo, prioridade, status, conversa_id FROM fila_mensagens ORDER BY cliente_id"
    )
    assert [f["cliente_id"] for f in fila] == elegiveis
    assert fila[0]["conteudo"] == "Oi Ana! Plantões de Cardiologia." + campanhas.RODAPE
    assert fila[1]["conteudo"] == "Oi doutor(a)! Plantões de sua especialidade." + campanhas.RODAPE
    assert all(f["prioridade"] < PRIORIDADE_RESPOSTA and f["status"] == "pendente" for f in fila)


async def test_audience_by_specialty_and_crm_state(pool: asyncpg.Pool, settings: Settings) -> None:
    orto = await _especialidade(pool, "Ortopedia")
    sp = await _medico(pool, "+5511900000001", tags=(), especialidade_id=orto, crm="CRM/SP 1")
    await _medico(pool, "+5521900000002", tags=(), especialidade_id=orto, crm="CRM/RJ 2")
    await _medico(pool, "+5511900000003", tags=(), especialidade_id=orto, crm=None)
    await _medico(pool, "+5511900000004", tags=(), crm="CRM/SP 4")
    nova = campanhas.NovaCampanha(id="orto-sp", especialidade_id=orto, estado="SP", texto="Oi")
    campanha = await campanhas.criar_campanha(pool, settings, nova)
    assert campanha.enfileiradas == 1
    assert await pool.fetchval("SELECT array_agg(cliente_id) FROM fila_mensagens") == [sp]


@pytest.mark.parametrize(
    ("corpo", "trecho"),
    [
        ({"id": "x", "tag": "cardio", "texto": "Oi {nome}"}, "unknown placeholder {nome}"),
        ({"id": "x", "texto": "Oi"}, "needs tag or especialidade_id"),
        ({"id": "x", "tag": "cardio", "especialidade_id": 999999, "texto": "Oi"}, "does not exist"),
        ({"id": "com espaço", "tag": "cardio", "texto": "Oi"}, "pattern"),
    ],
)
async def test_bad_campaigns_are_refused_with_422(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, corpo: dict[str, object], trecho: str
) -> None:
    resposta = await cliente.post("/admin/campanhas", json=corpo, headers=AUTH)
    assert resposta.status_code == 422
    assert trecho in resposta.text
    assert await pool.fetchval("SELECT count(*) FROM campanhas") == 0


async def test_campaign_routes_need_the_admin_token(cliente: httpx.AsyncClient) -> None:
    assert (await cliente.post("/admin/campanhas", json={})).status_code == 401
    assert (
        await cliente.get("/admin/campanhas/x", headers={"Authorization": "Bearer no"})
    ).status_code == 401
    assert (await cliente.get("/admin/campanhas/nao-existe", headers=AUTH)).status_code == 404


# --- the rate and the sending hours ------------------------------------------------------------


async def _criar(
    pool: asyncpg.Pool, settings: Settings, inicio: dt.datetime, por_minuto: int, *, horas: tuple[int, int]
) -> list[dt.datetime]:
    ajustadas = settings.model_copy(update={"campanha_hora_inicio": horas[0], "campanha_hora_fim": horas[1]})
    nova = campanhas.NovaCampanha(id="c1", tag="cardio", texto="Oi", inicio=inicio, por_minuto=por_minuto)
    await campanhas.criar_campanha(pool, ajustadas, nova)
    return await _agendas(pool, "c1")


async def test_the_rate_spreads_doctors_evenly_from_the_start(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(5):
        await _medico(pool, f"+551190000000{i}")
    inicio = _sp("2030-12-01T10:00:00")
    agendas = await _criar(pool, settings, inicio, 6, horas=(8, 20))
    assert agendas == [inicio + dt.timedelta(seconds=10 * i) for i in range(5)]


async def test_slots_past_closing_move_to_the_next_opening_across_midnight(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    for i in range(4):
        await _medico(pool, f"+551190000000{i}")
    agendas = await _criar(pool, settings, _sp("2030-12-01T19:58:00"), 1, horas=(8, 20))
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
    agendas = await _criar(pool, settings, inicio, 1, horas=(8, 20))
    assert agendas == [
        dt.datetime(2030, 12, 2, 11, 0, tzinfo=UTC),
        dt.datetime(2030, 12, 2, 11, 1, tzinfo=UTC),
    ]


async def test_a_start_before_opening_waits_for_it_and_a_naive_time_is_sao_paulos(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await _medico(pool, "+5511900000001")
    agendas = await _criar(pool, settings, dt.datetime(2030, 12, 1, 5, 0), 10, horas=(8, 20))
    assert agendas == [_sp("2030-12-01T08:00:00")]


async def test_a_window_that_crosses_midnight(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(3):
        await _medico(pool, f"+551190000000{i}")
    # 22:00 to 06:00: 05:59 is open, 06:00 is not, so the third goes at 22:00 that evening.
    agendas = await _criar(pool, settings, _sp("2030-12-02T05:58:00"), 1, horas=(22, 6))
    assert agendas == [_sp("2030-12-02T05:58:00"), _sp("2030-12-02T05:59:00"), _sp("2030-12-02T22:00:00")]


async def test_zero_to_24_is_any_hour(pool: asyncpg.Pool, settings: Settings) -> None:
    await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    agendas = await _criar(pool, settings, _sp("2030-12-01T23:59:30"), 1, horas=(0, 24))
    assert agendas == [_sp("2030-12-01T23:59:30"), _sp("2030-12-02T00:00:30")]


async def test_a_start_in_the_past_starts_now_not_in_a_burst(pool: asyncpg.Pool, settings: Settings) -> None:
    for i in range(3):
        await _medico(pool, f"+551190000000{i}")
    antes = dt.datetime.now(UTC)
    agendas = await _criar(pool, settings, antes - dt.timedelta(days=1), 1, horas=(0, 24))
    assert agendas[0] >= antes
    assert [b - a for a, b in itertools.pairwise(agendas)] == [dt.timedelta(minutes=1)] * 2


def test_equal_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="use 0 and 24"):
        Settings(campanha_hora_inicio=8, campanha_hora_fim=8)


# --- sending, priority, pause, report ----------------------------------------------------------


async def _campanha_ja_devida(pool: asyncpg.Pool, settings: Settings, campanha_id: str = "agora") -> None:
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
    await _campanha_ja_devida(pool, settings)
    await postar(cliente, upsert("Tem plantão sábado?"))
    tarefas = await worker.claim_entradas(10)
    await worker._attempt(tarefas[0])  # the reply is queued after the campaign rows, and due later

    primeira = await reivindicar_mensagens(pool, 1, 60)
    assert primeira[0].conteudo == "Resposta a: Tem plantão sábado?"


async def test_pause_during_a_campaign_loses_nothing_and_sends_each_doctor_once(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, worker: Worker, externos: Externos
) -> None:
    telefones = [f"+551190000000{i}" for i in range(6)]
    for telefone in telefones:
        await _medico(pool, telefone)
    await _campanha_ja_devida(pool, settings)
    worker.remetente._lote = 2
    assert await worker.remetente.despachar() == 2
    await worker.remetente.aguardar()

    await pausa.pausar(redis, "campanha errada?")
    assert await worker.remetente.despachar() == 0
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 4

    await pausa.retomar(redis)
    await drenar(worker, pool)
    assert sorted(numero for numero, _ in externos.textos_enviados()) == sorted(t[1:] for t in telefones)
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'") == 6


async def test_a_sent_campaign_message_is_history_claude_reads_and_chatwoot_shows(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externos: Externos
) -> None:
    cliente_id = await _medico(pool, "+5511999990000")  # the number upsert() writes from
    await _campanha_ja_devida(pool, settings, "hist")
    await drenar(worker, pool)

    interacao = await pool.fetchrow(
        "SELECT i.conteudo, i.direcao, i.origem, i.whatsapp_message_id, c.status "
        "FROM fila_mensagens f JOIN interacoes i ON i.id = f.interacao_id "
        "JOIN conversations c ON c.id = f.conversa_id WHERE f.campanha_id = 'hist'"
    )
    assert interacao is not None
    assert interacao["conteudo"].startswith("Oi Ana")
    assert (interacao["direcao"], interacao["origem"], interacao["status"]) == ("saida", "julia", "ativa")
    assert interacao["whatsapp_message_id"].startswith("3EB0")  # what Evolution answered
    espelhadas = externos.espelhadas()
    assert [(m["content"], m["message_type"]) for m in espelhadas] == [(interacao["conteudo"], "outgoing")]

    await postar(cliente, upsert("Tenho interesse!", msg_id="R-hist"))
    await drenar(worker, pool)
    pedido = json.loads(externos.claude.calls[-1].request.content)
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
    externos: Externos,
) -> None:
    await _medico(pool, "+5511999990000")  # the number upsert() writes from
    await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    await _campanha_ja_devida(pool, settings, "rel")
    nao_existe = {"jid": "5511900000002@s.whatsapp.net", "exists": False, "number": "5511900000002"}
    sem_whatsapp = httpx.Response(
        400, json={"status": 400, "error": "Bad Request", "response": {"message": [nao_existe]}}
    )

    def evolution(request: httpx.Request) -> httpx.Response:
        return sem_whatsapp if json.loads(request.content)["number"] == "5511900000002" else enviado(request)

    externos.envio.mock(side_effect=evolution)
    await drenar(worker, pool)
    await postar(cliente, upsert("Tenho interesse!", msg_id="R1"))
    await postar(cliente, upsert("PARAR", numero="5511900000001", msg_id="R2"))
    await drenar(worker, pool)

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
    metricas = (await cliente.get("/metrics", headers=METRICAS)).text
    assert 'julia_campanha_mensagens{campanha="rel",estado="respondidas"} 2.0' in metricas
    assert 'julia_campanha_mensagens{campanha="rel",estado="falhas"} 1.0' in metricas


# --- opt-out -----------------------------------------------------------------------------------


async def test_parar_opts_out_at_once_cancels_pending_rows_and_confirms_without_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externos: Externos
) -> None:
    medico = await _medico(pool, "+5511999990000")
    outro = await _medico(pool, "+5511900000001")
    futuro = dt.datetime.now(UTC) + dt.timedelta(days=2)
    for campanha_id in ("a", "b"):
        nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi", inicio=futuro)
        await campanhas.criar_campanha(pool, settings, nova)

    await postar(cliente, upsert("Não quero mais receber!"))
    await drenar(worker, pool, so_devidas=True)

    assert externos.claude.call_count == 0
    assert externos.textos_enviados() == [("5511999990000", CONFIRMACAO_COM_EQUIPE)]
    assert await pool.fetchval("SELECT status FROM clientes WHERE id = $1", medico) == "opt_out"
    estados = await pool.fetch(
        "SELECT cliente_id, status, count(*) AS n FROM fila_mensagens WHERE campanha_id IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1"
    )
    assert [tuple(e) for e in estados] == [(medico, "cancelada", 2), (outro, "pendente", 2)]

    # Writing again reaches a person (mirrored to Chatwoot), never Claude nor an automatic reply.
    await postar(cliente, upsert("Oi, voltei", msg_id="DEPOIS"))
    await drenar(worker, pool, so_devidas=True)
    assert externos.claude.call_count == 0
    assert len(externos.textos_enviados()) == 1
    espelhadas = externos.espelhadas()
    assert {"content": "Oi, voltei", "message_type": "incoming", "private": False} in espelhadas

    # And no campaign queues them again.
    nova = campanhas.NovaCampanha(id="c", tag="cardio", texto="Oi", inicio=futuro)
    assert (await campanhas.criar_campanha(pool, settings, nova)).enfileiradas == 1


async def test_the_sender_rechecks_opt_out_at_send_time(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, externos: Externos
) -> None:
    saiu = await _medico(pool, "+5511900000001")
    await _medico(pool, "+5511900000002")
    await _campanha_ja_devida(pool, settings)
    # An opt-out that lands after the rows were claimed: nothing cancelled them, the send must not go.
    linhas = await reivindicar_mensagens(pool, 10, 60)
    await pool.execute("UPDATE clientes SET status = 'opt_out' WHERE id = $1", saiu)
    await pool.execute(
        "UPDATE fila_mensagens SET locked_until = now() - interval '1 second' WHERE id = ANY($1::bigint[])",
        [linha.id for linha in linhas],
    )
    await drenar(worker, pool)
    assert [numero for numero, _ in externos.textos_enviados()] == ["5511900000002"]
    assert await pool.fetchval("SELECT status FROM fila_mensagens WHERE cliente_id = $1", saiu) == "cancelada"


async def test_claudes_tool_opts_out_in_the_callers_transaction_with_the_fixed_confirmation(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    medico = await _medico(pool, "+5511900000001")
    conversa = await pool.fetchval("INSERT INTO conversations (cliente_id) VALUES ($1) RETURNING id", medico)
    futuro = dt.datetime.now(UTC) + dt.timedelta(days=1)
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="t", tag="cardio", texto="Oi", inicio=futuro)
    )
    async with pool.acquire() as conn, conn.transaction():
        resultado = await ferramenta_registrar_opt_out(conn, medico, conversa, {}, com_equipe=False)
    assert "não escreva outra" in resultado
    assert await pool.fetchval("SELECT status FROM clientes WHERE id = $1", medico) == "opt_out"
    filas = await pool.fetch("SELECT status, campanha_id, conteudo FROM fila_mensagens ORDER BY id")
    assert [tuple(f) for f in filas] == [
        ("cancelada", "t", filas[0]["conteudo"]),
        ("pendente", None, CONFIRMACAO),
    ]
    # A second call (the backstop after the tool) queues nothing more.
    async with pool.acquire() as conn, conn.transaction():
        await ferramenta_registrar_opt_out(conn, medico, conversa, {}, com_equipe=False)
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 2
