"""The WhatsApp channel as it behaves (issue 36, points 1 and 4), against real Postgres and Redis, with
julia's fake Evolution (julia/testing/evolution.py) answering sendText, sendTemplate and fetchInstances in
Evolution's wire format: templates on the Cloud API and Meta's refusals, free text only inside the 24-hour
window, the doctor's local sending window at send time, the weekly cap, a Baileys number's typing delay and
quotas."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from julia.data import fila_mensagens
from julia.errors import ConfigError
from julia.services import campanhas
from julia.services.avisos import CANCELLED, PRIORITY_AVISO
from julia.services.relay import NOTE_WAITING
from julia.settings import Settings
from julia.templates import REENGAGEMENT, TEMPLATES, TemplateMessage
from julia.testing.app import make_app
from julia.testing.chatwoot import message_created
from julia.testing.evolution import send_statuses, whatsapp_receipt
from julia.testing.state import ConfigEvolution, State
from julia.worker.channel import check_integration
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from tests.service.conftest import EVOLUTION, Externals, drain, post, upsert
from tests.service.test_handoff import signed
from tests.service.test_receipts import receipt_tallies

SP = ZoneInfo("America/Sao_Paulo")
TOKEN = "token-admin"
OFFER = TEMPLATES["oferta_plantao"]
REENGAJAMENTO = TEMPLATES[REENGAGEMENT]


def through_fake(app: FastAPI) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """A respx side effect that hands the request to julia's fake Evolution."""
    transport = httpx.ASGITransport(app=app)

    async def reply(request: httpx.Request) -> httpx.Response:
        resposta = await transport.handle_async_request(request)
        conteudo = await resposta.aread()
        return httpx.Response(resposta.status_code, headers=resposta.headers, content=conteudo)

    return reply


@pytest.fixture
def fake(externals: Externals) -> State:
    """The fake Evolution of a Cloud API instance, answering every Evolution route of these tests."""
    estado = State()
    estado.configure("evolution", {"integracao": "cloud-api"})
    reply = through_fake(make_app(estado))
    externals.envio.mock(side_effect=reply)
    externals.router.post(f"{EVOLUTION}/message/sendTemplate/julia", name="modelo").mock(side_effect=reply)
    externals.router.get(f"{EVOLUTION}/instance/fetchInstances", name="instancias").mock(side_effect=reply)
    return estado


def _window_open_in_sao_paulo() -> tuple[int, int]:
    """A two-hour window starting at São Paulo's current hour: open for a doctor on Brasília time, closed
    for one in Manaus (an hour behind) or Rio Branco (two hours behind), whatever the wall clock says."""
    hour = dt.datetime.now(SP).hour
    return hour, (hour + 2) % 24 or 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    inicio, end = _window_open_in_sao_paulo()
    return settings.model_copy(
        update={
            "admin_token": SecretStr(TOKEN),
            "evolution_integration": "cloud-api",
            # 800 sends in about 8 s; the sender then holds ~120 rows at once (julia/worker/sender.py
            # lote_para), within the test Redis client's connections.
            "evolution_rate_per_s": 20.0,
            "evolution_campanha_rate_per_s": 100.0,
            "campanha_hora_inicio": inicio,
            "campanha_hora_fim": end,
        }
    )


async def _medicos(
    pool: asyncpg.Pool, group: str, n: int, *, ddd: str, crm: str | None, tags: list[str]
) -> None:
    prefix = {"sp": "1", "am": "2", "ac": "3", "saiu": "4", "saira": "5", "cheio": "6"}[group]
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, status, tags, crm)"
        " SELECT '+55' || $1 || '9' || $2 || lpad(g::text, 7, '0'), 'Dra ' || $2 || g,"
        "        CASE WHEN $2 = '4' THEN 'opt_out' ELSE 'ativo' END, $4::text[],"
        "        CASE WHEN $3::text IS NULL THEN NULL ELSE $3 || ' ' || g END"
        " FROM generate_series(1, $5) AS g",
        ddd,
        prefix,
        crm,
        tags,
        n,
    )


def _worker(backing_servers: WorkerContext, settings: Settings) -> Worker:
    return Worker(
        WorkerContext.build(
            settings,
            backing_servers.pool,
            backing_servers.redis,
            backing_servers.http,
            claude=backing_servers.claude,
        )
    )


async def _campanha_no_baileys(
    pool: asyncpg.Pool,
    settings: Settings,
    backing_servers: WorkerContext,
    fake: State,
    campanha_id: str,
    **adjustments: object,
) -> Worker:
    """A free-text campaign to five doctors on a Baileys number whose hourly most is 3, due now; the worker
    with those settings (and `ajustes`)."""
    fake.configure("evolution", {"integracao": "baileys"})
    baileys = settings.model_copy(
        update={"evolution_integration": "baileys", "evolution_campanha_max_per_hour": 3, **adjustments}
    )
    await _medicos(pool, "sp", 5, ddd="11", crm="CRM/SP", tags=["cardio"])
    nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi {primeiro_nome}")
    await campanhas.criar_campanha(pool, baileys, nova)
    await _due_now(pool, campanha_id)
    return _worker(backing_servers, baileys)


async def _due_now(pool: asyncpg.Pool, campanha_id: str) -> None:
    await pool.execute("UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = $1", campanha_id)


async def test_campanha_to_1000_medicos_on_cloud_api_templates_in_window_skips_who_left_or_got_it(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    settings: Settings,
    worker: Worker,
    fake: State,
    externals: Externals,
) -> None:
    # 1,000 doctors of the tag: 800 on Brasília time (CRM/SP), 60 in Amazonas (CRM/AM), 60 in Acre (only
    # their DDD, 68, says so), 40 who opted out before the campaign, 20 who opt out after it was queued,
    # 20 who already had this week's two campaign messages (CAMPANHA_MAX_PER_WEEK=2).
    await _medicos(pool, "sp", 800, ddd="11", crm="CRM/SP", tags=["cardio"])
    await _medicos(pool, "am", 60, ddd="11", crm="CRM/AM", tags=["cardio"])
    await _medicos(pool, "ac", 60, ddd="68", crm=None, tags=["cardio"])
    await _medicos(pool, "saiu", 40, ddd="11", crm="CRM/SP", tags=["cardio"])
    await _medicos(pool, "saira", 20, ddd="11", crm="CRM/SP", tags=["cardio"])
    await _medicos(pool, "cheio", 20, ddd="11", crm="CRM/SP", tags=["cardio", "cheio"])
    assert await pool.fetchval("SELECT count(*) FROM clientes WHERE 'cardio' = ANY(tags)") == 1000
    for old in ("antiga-1", "antiga-2"):
        await campanhas.criar_campanha(
            pool, settings, campanhas.NovaCampanha(id=old, tag="cheio", modelo=OFFER.name)
        )
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'enviada', enviada_em = now() - interval '2 days'"
        " WHERE campanha_id LIKE 'antiga-%'"
    )

    nova = campanhas.NovaCampanha(id="mil", tag="cardio", modelo=OFFER.name, por_minuto=1000)
    campanha = await campanhas.criar_campanha(pool, settings, nova)
    assert campanha.enfileiradas == 960  # the 40 who had opted out are never queued
    await pool.execute("UPDATE clientes SET status = 'opt_out' WHERE telefone LIKE '+55119500%'")
    await _due_now(pool, "mil")
    await drain(worker, pool, limit_s=120, due_only=True)

    sent_ones = fake.registro.enviadas
    assert len(sent_ones) == 800
    assert all(e.status == 201 and e.modelo == OFFER.name for e in sent_ones)  # templates only
    assert externals.envio.call_count == 0  # no sendText at all
    numbers = {e.numero for e in sent_ones}
    assert all(n.startswith("55119100") for n in numbers)  # only doctors on Brasília time, inside it
    first = await pool.fetchrow(
        "SELECT cl.primeiro_nome, f.modelo_parametros, f.conteudo FROM fila_mensagens f"
        " JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id = 'mil' AND f.status = 'enviada' LIMIT 1"
    )
    assert first is not None
    assert first["modelo_parametros"] == [first["primeiro_nome"], "sua especialidade"]
    assert first["conteudo"] == OFFER.render(first["modelo_parametros"])  # the history reads the body
    assert {e.parametros for e in sent_ones if e.parametros[0] == first["primeiro_nome"]} == {
        tuple(first["modelo_parametros"])
    }

    states = {
        (r["grupo"], r["status"]): r["n"]
        for r in await pool.fetch(
            "SELECT substr(cl.telefone, 7, 1) AS grupo, f.status, count(*)::int AS n FROM fila_mensagens f"
            " JOIN clientes cl ON cl.id = f.cliente_id WHERE f.campanha_id = 'mil' GROUP BY 1, 2"
        )
    }
    assert states == {
        ("1", "enviada"): 800,
        ("2", "pendente"): 60,
        ("3", "pendente"): 60,
        ("5", "cancelada"): 20,
        ("6", "cancelada"): 20,
    }
    # Put off to the next opening on the doctor's own clock, and its claim not counted as a try.
    postponed = await pool.fetch(
        "SELECT f.fuso, f.agendar_para, f.tentativas, f.last_error FROM fila_mensagens f"
        " WHERE f.campanha_id = 'mil' AND f.status = 'pendente'"
    )
    assert {r["fuso"] for r in postponed} == {"America/Manaus", "America/Rio_Branco"}
    for r in postponed:
        local = r["agendar_para"].astimezone(ZoneInfo(r["fuso"]))
        assert (local.hour, local.minute) == (settings.campanha_hora_inicio, 0)
        assert r["agendar_para"] > dt.datetime.now(dt.UTC)
        assert r["tentativas"] == 0
        assert r["last_error"].startswith("fora da janela de envio do médico")
    full_ones = await pool.fetch(
        "SELECT f.last_error FROM fila_mensagens f JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id = 'mil' AND 'cheio' = ANY(cl.tags)"
    )
    assert {r["last_error"] for r in full_ones} == {"médico já recebeu 2 mensagens de campanha em 7 dias"}

    # The Cloud API's statuses of each template, as Evolution forwards them: a tenth failed, a third of
    # the rest read. The report counts what they said, message by message.
    rng = random.Random(1000)
    config = ConfigEvolution(integracao="cloud-api", fracao_falha_entrega=0.1, fracao_lida=1 / 3)
    recibos = [(e.numero, e.id, s) for e in sent_ones if e.id for s in send_statuses(config, rng)]
    for numero, msg_id, status in recibos:
        resposta = await post(cliente, whatsapp_receipt(msg_id, numero, status, integracao="cloud-api"))
        assert resposta.status_code == 200
    expected = receipt_tallies(recibos)
    assert len({msg_id for _, msg_id, _ in recibos}) == 800
    assert expected["nao_entregues"] > 0

    relatorio = (await campanhas.status_campanha(pool, "mil")).relatorio  # type: ignore[union-attr]
    assert (relatorio.enviadas, relatorio.pendentes, relatorio.canceladas, relatorio.falhas) == (
        800,
        120,
        40,
        0,
    )
    assert (relatorio.entregues, relatorio.lidas, relatorio.nao_entregues) == (
        expected["entregues"],
        expected["lidas"],
        expected["nao_entregues"],
    )


async def test_template_refused_by_meta_is_a_failure_with_the_code_not_a_sent_one(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, fake: State
) -> None:
    fake.configure("evolution", {"modelos_aprovados": []})  # not (yet) approved at Meta: 132001
    await _medicos(pool, "sp", 2, ddd="11", crm="CRM/SP", tags=["cardio"])
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="recusada", tag="cardio", modelo=OFFER.name)
    )
    await _due_now(pool, "recusada")
    await drain(worker, pool, due_only=True)
    linhas = await pool.fetch(
        "SELECT status, last_error, enviada_em FROM fila_mensagens WHERE campanha_id = 'recusada'"
    )
    assert [r["status"] for r in linhas] == ["erro", "erro"]
    assert all(
        "Meta refused the message (132001)" in r["last_error"] and r["enviada_em"] is None for r in linhas
    )
    assert [e.status for e in fake.registro.enviadas] == [132001, 132001]  # tried once each: permanent
    relatorio = (await campanhas.status_campanha(pool, "recusada")).relatorio  # type: ignore[union-attr]
    assert (relatorio.enviadas, relatorio.falhas) == (0, 2)


async def test_metas_limit_is_transient_the_row_returns_to_the_queue(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, fake: State
) -> None:
    fake.configure("evolution", {"falha_modelo": 130429})
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=["cardio"])
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="limite", tag="cardio", modelo=OFFER.name)
    )
    await _due_now(pool, "limite")
    await worker.sender.dispatch()
    await worker.sender.wait_for()
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens WHERE campanha_id = 'limite'")
    assert linha is not None
    assert linha["status"] == "pendente"
    assert "130429" in linha["last_error"]


async def test_plantao_aviso_goes_as_a_template_on_the_cloud_api(
    pool: asyncpg.Pool, worker: Worker, fake: State
) -> None:
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=[])
    medico = await pool.fetchval("SELECT id FROM clientes")
    aviso = TemplateMessage(CANCELLED, ("sábado, 12/12/2026, Noturno, Hospital X, Campinas/SP: R$ 1.500,00",))
    await fila_mensagens.enfileirar_avisos(pool, [(medico, aviso, dt.date(2026, 12, 12))], PRIORITY_AVISO)
    await drain(worker, pool)
    [sent] = fake.registro.enviadas
    assert (sent.modelo, sent.parametros) == ("plantao_cancelado", aviso.values)
    stored_one = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'saida'")
    assert stored_one == aviso.text  # the doctor's history holds what they read


@pytest.mark.parametrize(
    ("crm", "telefone", "fuso"),
    [
        ("CRM/PE 1", "+5587999990000", "America/Sao_Paulo"),  # PE's interior: Recife time only
        ("CRM/PE 1", "+5581999990000", "America/Recife America/Noronha"),  # DDD 81: Noronha too
        (None, "+5581999990000", "America/Recife America/Noronha"),
        ("CRM/SP 1", "+5581999990000", "America/Sao_Paulo"),  # the CRM's state still decides
        ("CRM/AM 1", "+5592999990000", "America/Manaus"),
        ("CRM/AM 1", "+5597999990000", "America/Eirunepe America/Manaus"),  # DDD 97: Acre time too
        (None, "+5597999990000", "America/Eirunepe America/Manaus"),
        (None, "+5568999990000", "America/Rio_Branco"),
    ],
)
async def test_medico_timezone_when_state_and_ddd_are_not_enough(
    pool: asyncpg.Pool, crm: str | None, telefone: str, fuso: str
) -> None:
    assert await pool.fetchval("SELECT fuso_medico($1, $2)", crm, telefone) == fuso


async def test_campanha_spread_over_each_medicos_hours(pool: asyncpg.Pool, settings: Settings) -> None:
    """Starting at São Paulo's opening tomorrow: a doctor in Manaus or Rio Branco is scheduled from their own
    opening (one and two hours later), not from São Paulo's, at the campaign's rate counted across zones."""
    await _medicos(pool, "sp", 4, ddd="11", crm="CRM/SP", tags=["cardio"])
    await _medicos(pool, "am", 4, ddd="11", crm="CRM/AM", tags=["cardio"])
    await _medicos(pool, "ac", 4, ddd="68", crm=None, tags=["cardio"])
    tomorrow = dt.datetime.now(SP).date() + dt.timedelta(days=1)
    opening_sp = dt.datetime.combine(tomorrow, dt.time(settings.campanha_hora_inicio), tzinfo=SP)
    nova = campanhas.NovaCampanha(
        id="fusos", tag="cardio", modelo=OFFER.name, por_minuto=1, inicio=opening_sp
    )
    await campanhas.criar_campanha(pool, settings, nova)
    linhas = await pool.fetch(
        "SELECT f.fuso, f.agendar_para FROM fila_mensagens f WHERE campanha_id = 'fusos' ORDER BY cliente_id"
    )
    inicio = settings.campanha_hora_inicio
    for n, linha in enumerate(linhas):
        local = linha["agendar_para"].astimezone(ZoneInfo(linha["fuso"]))
        assert (local.hour, local.minute) == (inicio, n), linha  # its own opening, n minutes in
    # In the order of the day from the opening: an opening at 22:00 runs 22, 23, 0.
    hours_sp = sorted(
        {r["agendar_para"].astimezone(SP).hour for r in linhas}, key=lambda h: (h - inicio) % 24
    )
    assert hours_sp == [inicio, (inicio + 1) % 24, (inicio + 2) % 24]


async def test_aviso_waits_for_the_medicos_window_unless_plantao_is_today_or_tomorrow(
    pool: asyncpg.Pool, settings: Settings, backing_servers: WorkerContext, fake: State
) -> None:
    """Outside the doctor's hours a notice about next week's shift waits for their opening; a cancellation
    of today's or tomorrow's shift goes at once."""
    hour = dt.datetime.now(SP).hour
    closed = settings.model_copy(
        update={"campanha_hora_inicio": (hour + 2) % 24, "campanha_hora_fim": (hour + 3) % 24 or 24}
    )
    worker = _worker(backing_servers, closed)
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=[])
    medico = await pool.fetchval("SELECT id FROM clientes")
    today = dt.datetime.now(SP).date()
    avisos = [
        (medico, TemplateMessage(CANCELLED, (f"plantão em {day}",)), today + dt.timedelta(days=days))
        for day, days in (("amanhã", 1), ("uma semana", 7))
    ]
    await fila_mensagens.enfileirar_avisos(pool, avisos, PRIORITY_AVISO)
    await drain(worker, pool, due_only=True)
    assert [e.parametros for e in fake.registro.enviadas] == [("plantão em amanhã",)]
    deferred = await pool.fetchrow(
        "SELECT fuso, agendar_para, last_error FROM fila_mensagens WHERE status = 'pendente'"
    )
    assert deferred is not None
    assert deferred["fuso"] == "America/Sao_Paulo"
    assert deferred["agendar_para"].astimezone(SP).hour == closed.campanha_hora_inicio
    assert deferred["last_error"].startswith("fora da janela de envio do médico")


async def _status(pool: asyncpg.Pool, fila_id: int) -> str:
    status: str = await pool.fetchval("SELECT status FROM fila_mensagens WHERE id = $1", fila_id)
    return status


async def test_free_text_outside_24_hours_goes_after_the_reengagement_template(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, fake: State
) -> None:
    await post(cliente, upsert("Oi, tem plantão?", numero="5511999990000", msg_id="A1"))
    await drain(worker, pool)
    assert [e.modelo for e in fake.registro.enviadas] == [None]  # the reply, inside the window: sendText
    # Two days later two texts are queued to her (a late reply, another): Meta would refuse free text
    # (131047), so the re-engagement template goes, once, and both texts wait for her answer.
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    fake.configure("evolution", {"fora_das_24h": ["5511999990000"]})
    conversa = await pool.fetchrow("SELECT id, cliente_id FROM conversations")
    assert conversa is not None
    texts = ["Ainda por aí?", "Achei um plantão para você."]
    queues = [
        await fila_mensagens.registrar_resposta(pool, conversa["id"], conversa["cliente_id"], t, 8, None)
        for t in texts
    ]
    await drain(worker, pool)
    [_, modelo] = fake.registro.enviadas
    # A lead: no first name yet, the campaigns' stand-in.
    assert (modelo.modelo, modelo.parametros, modelo.status) == (REENGAJAMENTO.name, ("doutor(a)",), 201)
    assert [await _status(pool, f) for f in queues] == ["aguardando_resposta"] * 2
    # She answers: Meta's window opens, both held texts go as free text, in order, then Júlia's reply.
    fake.configure("evolution", {"fora_das_24h": []})
    await post(cliente, upsert("Oi, estou sim", numero="5511999990000", msg_id="A2"))
    await drain(worker, pool)
    assert [await _status(pool, f) for f in queues] == ["enviada"] * 2
    sent_texts = [e.texto for e in fake.registro.enviadas[2:] if e.modelo is None]
    assert sent_texts[:2] == texts
    assert len(sent_texts) == 3  # and the reply to her answer


async def test_metas_131047_refusal_also_sends_the_template_and_holds_the_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, fake: State
) -> None:
    """julia's record says she wrote within 24 hours, Meta's clock says not (131047 on sendText): the
    template goes in the same attempt and the text is held, not failed."""
    await post(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    fake.configure("evolution", {"fora_das_24h": ["5511999990000"]})
    await drain(worker, pool)
    assert [(e.status, e.modelo) for e in fake.registro.enviadas] == [
        (131047, None),
        (201, REENGAJAMENTO.name),
    ]
    linha = await pool.fetchrow("SELECT id, status, last_error FROM fila_mensagens")
    assert linha is not None
    # Held until she writes again (not sent again at once: Meta would refuse it again, and again).
    assert linha["status"] == "aguardando_resposta"
    assert "modelo de reengajamento (wamid.FALSO" in linha["last_error"]
    fake.configure("evolution", {"fora_das_24h": []})
    await post(cliente, upsert("Oi de novo", numero="5511999990000", msg_id="A2"))
    await drain(worker, pool)
    assert await _status(pool, linha["id"]) == "enviada"


async def test_held_text_of_who_left_does_not_go(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, fake: State
) -> None:
    await post(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    await drain(worker, pool)
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    conversa = await pool.fetchrow("SELECT id, cliente_id FROM conversations")
    assert conversa is not None
    fila_id = await fila_mensagens.registrar_resposta(
        pool, conversa["id"], conversa["cliente_id"], "Ainda por aí?", 8, None
    )
    await drain(worker, pool)
    assert await _status(pool, fila_id) == "aguardando_resposta"
    await post(cliente, upsert("SAIR", numero="5511999990000", msg_id="A2"))
    await drain(worker, pool)
    assert await _status(pool, fila_id) == "cancelada"
    assert "Ainda por aí?" not in [e.texto for e in fake.registro.enviadas]


async def test_campanha_without_template_is_refused_on_the_cloud_api(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    corpo = {"id": "livre", "tag": "cardio", "texto": "Olá {primeiro_nome}"}
    resposta = await cliente.post(
        "/admin/campanhas", json=corpo, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resposta.status_code == 422
    assert "approved template" in resposta.json()["detail"]
    unknown = {"id": "x", "tag": "cardio", "modelo": "nao_existe"}
    resposta = await cliente.post(
        "/admin/campanhas", json=unknown, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resposta.status_code == 422
    assert "unknown template 'nao_existe'" in json.dumps(resposta.json())


async def test_the_worker_refuses_an_integration_not_of_the_instance(
    backing_servers: WorkerContext, fake: State
) -> None:
    await check_integration("cloud-api", backing_servers.evolution)  # the instance is a Cloud API one
    with pytest.raises(
        ConfigError, match="EVOLUTION_INTEGRATION is baileys but Evolution's instance is cloud-api"
    ):
        await check_integration("baileys", backing_servers.evolution)


async def test_baileys_typing_and_hourly_quota(
    pool: asyncpg.Pool, settings: Settings, backing_servers: WorkerContext, fake: State, externals: Externals
) -> None:
    worker = await _campanha_no_baileys(
        pool, settings, backing_servers, fake, "baileys", evolution_typing_delay_ms=20
    )
    await drain(worker, pool, due_only=True)
    # Claimed together, two rows met the three slots reserved by sends under way and looked again a few
    # seconds later; made due now, they meet the hour's three sends counted.
    await pool.execute(
        "UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = 'baileys' AND status = 'pendente'"
    )
    await drain(worker, pool, due_only=True)
    assert [json.loads(c.request.content)["delay"] for c in externals.envio.calls] == [20, 20, 20]
    postponed = await pool.fetch(
        "SELECT agendar_para, last_error FROM fila_mensagens WHERE status = 'pendente'"
    )
    assert len(postponed) == 2
    next_hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    assert all(abs((r["agendar_para"] - next_hour).total_seconds()) < 2 for r in postponed)
    assert all("limite de mensagens não solicitadas" in r["last_error"] for r in postponed)


async def test_agent_reply_outside_24_hours_waits_for_the_medico_and_the_agent_knows(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals, fake: State
) -> None:
    """An agent's reply from Chatwoot is free text: on the Cloud API, two days after the doctor last wrote,
    Meta would refuse it (131047); the re-engagement template goes, the agent's text waits for the
    doctor's answer, and the agent gets a private note saying so (issue 36, point 5)."""
    await post(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    await drain(worker, pool)
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    chatwoot_id = await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations")
    corpo = message_created(chatwoot_id, "Dra., ainda tem interesse?", message_id=5001, inbox_id=7)
    assert (await cliente.post("/webhooks/chatwoot", **signed(corpo))).json() == {"status": "enfileirada"}
    await drain(worker, pool)
    assert [e.modelo for e in fake.registro.enviadas] == [None, REENGAJAMENTO.name]
    status = await pool.fetchval("SELECT status FROM fila_mensagens WHERE chatwoot_message_id = 5001")
    assert status == "aguardando_resposta"
    notes = [json.loads(c.request.content) for c in externals.message.calls]
    assert [n["content"] for n in notes if n["private"]] == [NOTE_WAITING]
    await post(cliente, upsert("Tenho sim", numero="5511999990000", msg_id="A2"))
    await drain(worker, pool)
    assert "Dra., ainda tem interesse?" in [e.texto for e in fake.registro.enviadas if e.modelo is None]


async def test_baileys_quota_counts_only_what_evolution_accepted(
    pool: asyncpg.Pool, settings: Settings, backing_servers: WorkerContext, fake: State, externals: Externals
) -> None:
    """Tries a closed connection refused (Evolution's 400 "Connection Closed") take nothing from the hour:
    after reconnect the hour's three slots all go to real sends (issue 36: the hourly most had counted
    them, and the service and fault tests lifted the guard)."""
    worker = await _campanha_no_baileys(pool, settings, backing_servers, fake, "fechada")
    fake.conexao = "close"
    assert await worker.sender.dispatch() == 5
    await worker.sender.wait_for()
    refused_ones = [e for e in fake.registro.enviadas if e.status == 400]
    assert len(refused_ones) == 3  # three slots reserved, each try refused; two rows waited for a slot
    assert await backing_servers.redis.keys("julia:evolution:cota:*:h:*") == []  # nothing counted
    fake.conexao = "open"
    await _due_now(pool, "fechada")
    await drain(worker, pool, due_only=True)
    accepted_ones = [e for e in fake.registro.enviadas if e.status == 201]
    assert len(accepted_ones) == 3
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 2
