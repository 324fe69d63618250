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
from julia.services.avisos import CANCELADA, PRIORIDADE_AVISO
from julia.services.repasse import NOTA_AGUARDANDO
from julia.settings import Settings
from julia.templates import REENGAGEMENT, TEMPLATES, TemplateMessage
from julia.testing.app import criar_app
from julia.testing.chatwoot import mensagem_criada
from julia.testing.estado import ConfigEvolution, Estado
from julia.testing.evolution import recibo_whatsapp, statuses_do_envio
from julia.worker.channel import check_integration
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from tests.service.conftest import EVOLUTION, Externos, drenar, postar, upsert
from tests.service.test_handoff import assinado
from tests.service.test_recibos import contagens_dos_recibos

SP = ZoneInfo("America/Sao_Paulo")
TOKEN = "token-admin"
OFERTA = TEMPLATES["oferta_plantao"]
REENGAJAMENTO = TEMPLATES[REENGAGEMENT]


def pelo_falso(app: FastAPI) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """A respx side effect that hands the request to julia's fake Evolution."""
    transporte = httpx.ASGITransport(app=app)

    async def responder(request: httpx.Request) -> httpx.Response:
        resposta = await transporte.handle_async_request(request)
        conteudo = await resposta.aread()
        return httpx.Response(resposta.status_code, headers=resposta.headers, content=conteudo)

    return responder


@pytest.fixture
def falso(externos: Externos) -> Estado:
    """The fake Evolution of a Cloud API instance, answering every Evolution route of these tests."""
    estado = Estado()
    estado.configurar("evolution", {"integracao": "cloud-api"})
    responder = pelo_falso(criar_app(estado))
    externos.envio.mock(side_effect=responder)
    externos.router.post(f"{EVOLUTION}/message/sendTemplate/julia", name="modelo").mock(side_effect=responder)
    externos.router.get(f"{EVOLUTION}/instance/fetchInstances", name="instancias").mock(side_effect=responder)
    return estado


def _janela_aberta_em_sao_paulo() -> tuple[int, int]:
    """A two-hour window starting at São Paulo's current hour: open for a doctor on Brasília time, closed
    for one in Manaus (an hour behind) or Rio Branco (two hours behind), whatever the wall clock says."""
    hora = dt.datetime.now(SP).hour
    return hora, (hora + 2) % 24 or 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    inicio, fim = _janela_aberta_em_sao_paulo()
    return settings.model_copy(
        update={
            "admin_token": SecretStr(TOKEN),
            "evolution_integration": "cloud-api",
            # 800 sends in about 8 s; the sender then holds ~120 rows at once (julia/worker/remetente.py
            # lote_para), within the test Redis client's connections.
            "evolution_rate_per_s": 20.0,
            "evolution_campanha_rate_per_s": 100.0,
            "campanha_hora_inicio": inicio,
            "campanha_hora_fim": fim,
        }
    )


async def _medicos(
    pool: asyncpg.Pool, grupo: str, n: int, *, ddd: str, crm: str | None, tags: list[str]
) -> None:
    prefixo = {"sp": "1", "am": "2", "ac": "3", "saiu": "4", "saira": "5", "cheio": "6"}[grupo]
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, status, tags, crm)"
        " SELECT '+55' || $1 || '9' || $2 || lpad(g::text, 7, '0'), 'Dra ' || $2 || g,"
        "        CASE WHEN $2 = '4' THEN 'opt_out' ELSE 'ativo' END, $4::text[],"
        "        CASE WHEN $3::text IS NULL THEN NULL ELSE $3 || ' ' || g END"
        " FROM generate_series(1, $5) AS g",
        ddd,
        prefixo,
        crm,
        tags,
        n,
    )


def _worker(servicos: WorkerContext, settings: Settings) -> Worker:
    return Worker(
        WorkerContext.build(settings, servicos.pool, servicos.redis, servicos.http, claude=servicos.claude)
    )


async def _campanha_no_baileys(
    pool: asyncpg.Pool,
    settings: Settings,
    servicos: WorkerContext,
    falso: Estado,
    campanha_id: str,
    **ajustes: object,
) -> Worker:
    """A free-text campaign to five doctors on a Baileys number whose hourly most is 3, due now; the worker
    with those settings (and `ajustes`)."""
    falso.configurar("evolution", {"integracao": "baileys"})
    baileys = settings.model_copy(
        update={"evolution_integration": "baileys", "evolution_campanha_max_per_hour": 3, **ajustes}
    )
    await _medicos(pool, "sp", 5, ddd="11", crm="CRM/SP", tags=["cardio"])
    nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi {primeiro_nome}")
    await campanhas.criar_campanha(pool, baileys, nova)
    await _devida_agora(pool, campanha_id)
    return _worker(servicos, baileys)


async def _devida_agora(pool: asyncpg.Pool, campanha_id: str) -> None:
    await pool.execute("UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = $1", campanha_id)


async def test_campanha_a_mil_medicos_na_cloud_api_so_modelos_dentro_da_janela_sem_quem_saiu_ou_ja_recebeu(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    settings: Settings,
    worker: Worker,
    falso: Estado,
    externos: Externos,
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
    for antiga in ("antiga-1", "antiga-2"):
        await campanhas.criar_campanha(
            pool, settings, campanhas.NovaCampanha(id=antiga, tag="cheio", modelo=OFERTA.name)
        )
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'enviada', enviada_em = now() - interval '2 days'"
        " WHERE campanha_id LIKE 'antiga-%'"
    )

    nova = campanhas.NovaCampanha(id="mil", tag="cardio", modelo=OFERTA.name, por_minuto=1000)
    campanha = await campanhas.criar_campanha(pool, settings, nova)
    assert campanha.enfileiradas == 960  # the 40 who had opted out are never queued
    await pool.execute("UPDATE clientes SET status = 'opt_out' WHERE telefone LIKE '+55119500%'")
    await _devida_agora(pool, "mil")
    await drenar(worker, pool, limite_s=120, so_devidas=True)

    enviados = falso.registro.enviadas
    assert len(enviados) == 800
    assert all(e.status == 201 and e.modelo == OFERTA.name for e in enviados)  # templates only
    assert externos.envio.call_count == 0  # no sendText at all
    numeros = {e.numero for e in enviados}
    assert all(n.startswith("55119100") for n in numeros)  # only doctors on Brasília time, inside it
    primeiro = await pool.fetchrow(
        "SELECT cl.primeiro_nome, f.modelo_parametros, f.conteudo FROM fila_mensagens f"
        " JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id = 'mil' AND f.status = 'enviada' LIMIT 1"
    )
    assert primeiro is not None
    assert primeiro["modelo_parametros"] == [primeiro["primeiro_nome"], "sua especialidade"]
    assert primeiro["conteudo"] == OFERTA.render(primeiro["modelo_parametros"])  # the history reads the body
    assert {e.parametros for e in enviados if e.parametros[0] == primeiro["primeiro_nome"]} == {
        tuple(primeiro["modelo_parametros"])
    }

    estados = {
        (r["grupo"], r["status"]): r["n"]
        for r in await pool.fetch(
            "SELECT substr(cl.telefone, 7, 1) AS grupo, f.status, count(*)::int AS n FROM fila_mensagens f"
            " JOIN clientes cl ON cl.id = f.cliente_id WHERE f.campanha_id = 'mil' GROUP BY 1, 2"
        )
    }
    assert estados == {
        ("1", "enviada"): 800,
        ("2", "pendente"): 60,
        ("3", "pendente"): 60,
        ("5", "cancelada"): 20,
        ("6", "cancelada"): 20,
    }
    # Put off to the next opening on the doctor's own clock, and its claim not counted as a try.
    adiadas = await pool.fetch(
        "SELECT f.fuso, f.agendar_para, f.tentativas, f.last_error FROM fila_mensagens f"
        " WHERE f.campanha_id = 'mil' AND f.status = 'pendente'"
    )
    assert {r["fuso"] for r in adiadas} == {"America/Manaus", "America/Rio_Branco"}
    for r in adiadas:
        local = r["agendar_para"].astimezone(ZoneInfo(r["fuso"]))
        assert (local.hour, local.minute) == (settings.campanha_hora_inicio, 0)
        assert r["agendar_para"] > dt.datetime.now(dt.UTC)
        assert r["tentativas"] == 0
        assert r["last_error"].startswith("fora da janela de envio do médico")
    cheios = await pool.fetch(
        "SELECT f.last_error FROM fila_mensagens f JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id = 'mil' AND 'cheio' = ANY(cl.tags)"
    )
    assert {r["last_error"] for r in cheios} == {"médico já recebeu 2 mensagens de campanha em 7 dias"}

    # The Cloud API's statuses of each template, as Evolution forwards them: a tenth failed, a third of
    # the rest read. The report counts what they said, message by message.
    rng = random.Random(1000)
    config = ConfigEvolution(integracao="cloud-api", fracao_falha_entrega=0.1, fracao_lida=1 / 3)
    recibos = [(e.numero, e.id, s) for e in enviados if e.id for s in statuses_do_envio(config, rng)]
    for numero, msg_id, status in recibos:
        resposta = await postar(cliente, recibo_whatsapp(msg_id, numero, status, integracao="cloud-api"))
        assert resposta.status_code == 200
    esperado = contagens_dos_recibos(recibos)
    assert len({msg_id for _, msg_id, _ in recibos}) == 800
    assert esperado["nao_entregues"] > 0

    relatorio = (await campanhas.status_campanha(pool, "mil")).relatorio  # type: ignore[union-attr]
    assert (relatorio.enviadas, relatorio.pendentes, relatorio.canceladas, relatorio.falhas) == (
        800,
        120,
        40,
        0,
    )
    assert (relatorio.entregues, relatorio.lidas, relatorio.nao_entregues) == (
        esperado["entregues"],
        esperado["lidas"],
        esperado["nao_entregues"],
    )


async def test_modelo_recusado_pela_meta_e_uma_falha_com_o_codigo_nao_uma_enviada(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, falso: Estado
) -> None:
    falso.configurar("evolution", {"modelos_aprovados": []})  # not (yet) approved at Meta: 132001
    await _medicos(pool, "sp", 2, ddd="11", crm="CRM/SP", tags=["cardio"])
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="recusada", tag="cardio", modelo=OFERTA.name)
    )
    await _devida_agora(pool, "recusada")
    await drenar(worker, pool, so_devidas=True)
    linhas = await pool.fetch(
        "SELECT status, last_error, enviada_em FROM fila_mensagens WHERE campanha_id = 'recusada'"
    )
    assert [r["status"] for r in linhas] == ["erro", "erro"]
    assert all(
        "Meta refused the message (132001)" in r["last_error"] and r["enviada_em"] is None for r in linhas
    )
    assert [e.status for e in falso.registro.enviadas] == [132001, 132001]  # tried once each: permanent
    relatorio = (await campanhas.status_campanha(pool, "recusada")).relatorio  # type: ignore[union-attr]
    assert (relatorio.enviadas, relatorio.falhas) == (0, 2)


async def test_limite_da_meta_e_transitorio_a_linha_volta_para_a_fila(
    pool: asyncpg.Pool, settings: Settings, worker: Worker, falso: Estado
) -> None:
    falso.configurar("evolution", {"falha_modelo": 130429})
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=["cardio"])
    await campanhas.criar_campanha(
        pool, settings, campanhas.NovaCampanha(id="limite", tag="cardio", modelo=OFERTA.name)
    )
    await _devida_agora(pool, "limite")
    await worker.remetente.despachar()
    await worker.remetente.aguardar()
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens WHERE campanha_id = 'limite'")
    assert linha is not None
    assert linha["status"] == "pendente"
    assert "130429" in linha["last_error"]


async def test_aviso_de_plantao_vai_como_modelo_na_cloud_api(
    pool: asyncpg.Pool, worker: Worker, falso: Estado
) -> None:
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=[])
    medico = await pool.fetchval("SELECT id FROM clientes")
    aviso = TemplateMessage(CANCELADA, ("sábado, 12/12/2026, Noturno, Hospital X, Campinas/SP: R$ 1.500,00",))
    await fila_mensagens.enfileirar_avisos(pool, [(medico, aviso, dt.date(2026, 12, 12))], PRIORIDADE_AVISO)
    await drenar(worker, pool)
    [enviado] = falso.registro.enviadas
    assert (enviado.modelo, enviado.parametros) == ("plantao_cancelado", aviso.values)
    guardado = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'saida'")
    assert guardado == aviso.text  # the doctor's history holds what they read


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
async def test_fuso_do_medico_quando_estado_e_ddd_nao_bastam(
    pool: asyncpg.Pool, crm: str | None, telefone: str, fuso: str
) -> None:
    assert await pool.fetchval("SELECT fuso_medico($1, $2)", crm, telefone) == fuso


async def test_campanha_espalhada_nas_horas_de_cada_medico(pool: asyncpg.Pool, settings: Settings) -> None:
    """Starting at São Paulo's opening tomorrow: a doctor in Manaus or Rio Branco is scheduled from their own
    opening (one and two hours later), not from São Paulo's, at the campaign's rate counted across zones."""
    await _medicos(pool, "sp", 4, ddd="11", crm="CRM/SP", tags=["cardio"])
    await _medicos(pool, "am", 4, ddd="11", crm="CRM/AM", tags=["cardio"])
    await _medicos(pool, "ac", 4, ddd="68", crm=None, tags=["cardio"])
    abertura_sp = dt.datetime.now(SP).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    nova = campanhas.NovaCampanha(
        id="fusos", tag="cardio", modelo=OFERTA.name, por_minuto=1, inicio=abertura_sp
    )
    await campanhas.criar_campanha(pool, settings, nova)
    linhas = await pool.fetch(
        "SELECT f.fuso, f.agendar_para FROM fila_mensagens f WHERE campanha_id = 'fusos' ORDER BY cliente_id"
    )
    inicio = settings.campanha_hora_inicio
    for n, linha in enumerate(linhas):
        local = linha["agendar_para"].astimezone(ZoneInfo(linha["fuso"]))
        assert (local.hour, local.minute) == (inicio, n), linha  # its own opening, n minutes in
    horas_sp = sorted({r["agendar_para"].astimezone(SP).hour for r in linhas})
    assert horas_sp == [inicio, (inicio + 1) % 24, (inicio + 2) % 24]


async def test_aviso_espera_a_janela_do_medico_salvo_plantao_de_hoje_ou_amanha(
    pool: asyncpg.Pool, settings: Settings, servicos: WorkerContext, falso: Estado
) -> None:
    """Outside the doctor's hours a notice about next week's shift waits for their opening; a cancellation
    of today's or tomorrow's shift goes at once."""
    hora = dt.datetime.now(SP).hour
    fechada = settings.model_copy(
        update={"campanha_hora_inicio": (hora + 2) % 24, "campanha_hora_fim": (hora + 3) % 24 or 24}
    )
    worker = _worker(servicos, fechada)
    await _medicos(pool, "sp", 1, ddd="11", crm="CRM/SP", tags=[])
    medico = await pool.fetchval("SELECT id FROM clientes")
    hoje = dt.datetime.now(SP).date()
    avisos = [
        (medico, TemplateMessage(CANCELADA, (f"plantão em {dia}",)), hoje + dt.timedelta(days=dias))
        for dia, dias in (("amanhã", 1), ("uma semana", 7))
    ]
    await fila_mensagens.enfileirar_avisos(pool, avisos, PRIORIDADE_AVISO)
    await drenar(worker, pool, so_devidas=True)
    assert [e.parametros for e in falso.registro.enviadas] == [("plantão em amanhã",)]
    adiado = await pool.fetchrow(
        "SELECT fuso, agendar_para, last_error FROM fila_mensagens WHERE status = 'pendente'"
    )
    assert adiado is not None
    assert adiado["fuso"] == "America/Sao_Paulo"
    assert adiado["agendar_para"].astimezone(SP).hour == fechada.campanha_hora_inicio
    assert adiado["last_error"].startswith("fora da janela de envio do médico")


async def _status(pool: asyncpg.Pool, fila_id: int) -> str:
    status: str = await pool.fetchval("SELECT status FROM fila_mensagens WHERE id = $1", fila_id)
    return status


async def test_texto_livre_fora_das_24_horas_vai_atras_do_modelo_de_reengajamento(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, falso: Estado
) -> None:
    await postar(cliente, upsert("Oi, tem plantão?", numero="5511999990000", msg_id="A1"))
    await drenar(worker, pool)
    assert [e.modelo for e in falso.registro.enviadas] == [None]  # the reply, inside the window: sendText
    # Two days later two texts are queued to her (a late reply, another): Meta would refuse free text
    # (131047), so the re-engagement template goes, once, and both texts wait for her answer.
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    falso.configurar("evolution", {"fora_das_24h": ["5511999990000"]})
    conversa = await pool.fetchrow("SELECT id, cliente_id FROM conversations")
    assert conversa is not None
    textos = ["Ainda por aí?", "Achei um plantão para você."]
    filas = [
        await fila_mensagens.registrar_resposta(pool, conversa["id"], conversa["cliente_id"], t, 8, None)
        for t in textos
    ]
    await drenar(worker, pool)
    [_, modelo] = falso.registro.enviadas
    # A lead: no first name yet, the campaigns' stand-in.
    assert (modelo.modelo, modelo.parametros, modelo.status) == (REENGAJAMENTO.name, ("doutor(a)",), 201)
    assert [await _status(pool, f) for f in filas] == ["aguardando_resposta"] * 2
    # She answers: Meta's window opens, both held texts go as free text, in order, then Júlia's reply.
    falso.configurar("evolution", {"fora_das_24h": []})
    await postar(cliente, upsert("Oi, estou sim", numero="5511999990000", msg_id="A2"))
    await drenar(worker, pool)
    assert [await _status(pool, f) for f in filas] == ["enviada"] * 2
    textos_enviados = [e.texto for e in falso.registro.enviadas[2:] if e.modelo is None]
    assert textos_enviados[:2] == textos
    assert len(textos_enviados) == 3  # and the reply to her answer


async def test_recusa_131047_da_meta_tambem_manda_o_modelo_e_retem_o_texto(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, falso: Estado
) -> None:
    """julia's record says she wrote within 24 hours, Meta's clock says not (131047 on sendText): the
    template goes in the same attempt and the text is held, not failed."""
    await postar(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    falso.configurar("evolution", {"fora_das_24h": ["5511999990000"]})
    await drenar(worker, pool)
    assert [(e.status, e.modelo) for e in falso.registro.enviadas] == [
        (131047, None),
        (201, REENGAJAMENTO.name),
    ]
    linha = await pool.fetchrow("SELECT id, status, last_error FROM fila_mensagens")
    assert linha is not None
    # Held until she writes again (not sent again at once: Meta would refuse it again, and again).
    assert linha["status"] == "aguardando_resposta"
    assert "modelo de reengajamento (wamid.FALSO" in linha["last_error"]
    falso.configurar("evolution", {"fora_das_24h": []})
    await postar(cliente, upsert("Oi de novo", numero="5511999990000", msg_id="A2"))
    await drenar(worker, pool)
    assert await _status(pool, linha["id"]) == "enviada"


async def test_texto_retido_de_quem_saiu_nao_vai(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, falso: Estado
) -> None:
    await postar(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    await drenar(worker, pool)
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    conversa = await pool.fetchrow("SELECT id, cliente_id FROM conversations")
    assert conversa is not None
    fila_id = await fila_mensagens.registrar_resposta(
        pool, conversa["id"], conversa["cliente_id"], "Ainda por aí?", 8, None
    )
    await drenar(worker, pool)
    assert await _status(pool, fila_id) == "aguardando_resposta"
    await postar(cliente, upsert("SAIR", numero="5511999990000", msg_id="A2"))
    await drenar(worker, pool)
    assert await _status(pool, fila_id) == "cancelada"
    assert "Ainda por aí?" not in [e.texto for e in falso.registro.enviadas]


async def test_campanha_sem_modelo_e_recusada_na_cloud_api(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    corpo = {"id": "livre", "tag": "cardio", "texto": "Olá {primeiro_nome}"}
    resposta = await cliente.post(
        "/admin/campanhas", json=corpo, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resposta.status_code == 422
    assert "approved template" in resposta.json()["detail"]
    desconhecido = {"id": "x", "tag": "cardio", "modelo": "nao_existe"}
    resposta = await cliente.post(
        "/admin/campanhas", json=desconhecido, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resposta.status_code == 422
    assert "unknown template 'nao_existe'" in json.dumps(resposta.json())


async def test_o_worker_recusa_uma_integracao_que_nao_e_a_da_instancia(
    servicos: WorkerContext, falso: Estado
) -> None:
    await check_integration("cloud-api", servicos.evolution)  # the instance is a Cloud API one
    with pytest.raises(
        ConfigError, match="EVOLUTION_INTEGRATION is baileys but Evolution's instance is cloud-api"
    ):
        await check_integration("baileys", servicos.evolution)


async def test_baileys_digitando_e_cota_por_hora(
    pool: asyncpg.Pool, settings: Settings, servicos: WorkerContext, falso: Estado, externos: Externos
) -> None:
    worker = await _campanha_no_baileys(
        pool, settings, servicos, falso, "baileys", evolution_typing_delay_ms=20
    )
    await drenar(worker, pool, so_devidas=True)
    # Claimed together, two rows met the three slots reserved by sends under way and looked again a few
    # seconds later; made due now, they meet the hour's three sends counted.
    await pool.execute(
        "UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = 'baileys' AND status = 'pendente'"
    )
    await drenar(worker, pool, so_devidas=True)
    assert [json.loads(c.request.content)["delay"] for c in externos.envio.calls] == [20, 20, 20]
    adiadas = await pool.fetch(
        "SELECT agendar_para, last_error FROM fila_mensagens WHERE status = 'pendente'"
    )
    assert len(adiadas) == 2
    proxima_hora = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    assert all(abs((r["agendar_para"] - proxima_hora).total_seconds()) < 2 for r in adiadas)
    assert all("limite de mensagens não solicitadas" in r["last_error"] for r in adiadas)


async def test_resposta_do_agente_fora_das_24_horas_espera_o_medico_e_o_agente_sabe(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, falso: Estado
) -> None:
    """An agent's reply from Chatwoot is free text: on the Cloud API, two days after the doctor last wrote,
    Meta would refuse it (131047); the re-engagement template goes, the agent's text waits for the
    doctor's answer, and the agent gets a private note saying so (issue 36, point 5)."""
    await postar(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    await drenar(worker, pool)
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    chatwoot_id = await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations")
    corpo = mensagem_criada(chatwoot_id, "Dra., ainda tem interesse?", mensagem_id=5001, inbox_id=7)
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo))).json() == {"status": "enfileirada"}
    await drenar(worker, pool)
    assert [e.modelo for e in falso.registro.enviadas] == [None, REENGAJAMENTO.name]
    status = await pool.fetchval("SELECT status FROM fila_mensagens WHERE chatwoot_message_id = 5001")
    assert status == "aguardando_resposta"
    notas = [json.loads(c.request.content) for c in externos.mensagem.calls]
    assert [n["content"] for n in notas if n["private"]] == [NOTA_AGUARDANDO]
    await postar(cliente, upsert("Tenho sim", numero="5511999990000", msg_id="A2"))
    await drenar(worker, pool)
    assert "Dra., ainda tem interesse?" in [e.texto for e in falso.registro.enviadas if e.modelo is None]


async def test_cota_do_baileys_so_conta_o_que_o_evolution_aceitou(
    pool: asyncpg.Pool, settings: Settings, servicos: WorkerContext, falso: Estado, externos: Externos
) -> None:
    """Tries a closed connection refused (Evolution's 400 "Connection Closed") take nothing from the hour:
    after reconnect the hour's three slots all go to real sends (issue 36: the hourly most had counted
    them, and the service and fault tests lifted the guard)."""
    worker = await _campanha_no_baileys(pool, settings, servicos, falso, "fechada")
    falso.conexao = "close"
    assert await worker.remetente.despachar() == 5
    await worker.remetente.aguardar()
    recusadas = [e for e in falso.registro.enviadas if e.status == 400]
    assert len(recusadas) == 3  # three slots reserved, each try refused; two rows waited for a slot
    assert await servicos.redis.keys("julia:evolution:cota:*:h:*") == []  # nothing counted
    falso.conexao = "open"
    await _devida_agora(pool, "fechada")
    await drenar(worker, pool, so_devidas=True)
    aceitas = [e for e in falso.registro.enviadas if e.status == 201]
    assert len(aceitas) == 3
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 2
