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
from julia.services.repasse import NOTA_NAO_ENVIADA
from julia.settings import Settings
from julia.templates import TEMPLATES, TemplateMessage
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
    await fila_mensagens.enfileirar_avisos(pool, [(medico, aviso)], PRIORIDADE_AVISO)
    await drenar(worker, pool)
    [enviado] = falso.registro.enviadas
    assert (enviado.modelo, enviado.parametros) == ("plantao_cancelado", aviso.values)
    guardado = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'saida'")
    assert guardado == aviso.text  # the doctor's history holds what they read


async def test_texto_livre_na_cloud_api_so_dentro_das_24_horas(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, falso: Estado
) -> None:
    await postar(cliente, upsert("Oi, tem plantão?", numero="5511999990000", msg_id="A1"))
    await drenar(worker, pool)
    assert [e.modelo for e in falso.registro.enviadas] == [None]  # the reply, inside the window: sendText
    # Two days later something queues free text to her (a late reply, an agent's message): Meta would
    # refuse it (131047), so it is an 'erro' with the reason and nothing is sent.
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    conversa = await pool.fetchrow("SELECT id, cliente_id FROM conversations")
    assert conversa is not None
    fila_id = await fila_mensagens.registrar_resposta(
        pool, conversa["id"], conversa["cliente_id"], "Ainda por aí?", 8, None
    )
    await drenar(worker, pool)
    assert len(falso.registro.enviadas) == 1
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens WHERE id = $1", fila_id)
    assert linha is not None
    assert linha["status"] == "erro"
    assert "131047" in linha["last_error"]


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
    falso.configurar("evolution", {"integracao": "baileys"})
    baileys = settings.model_copy(
        update={
            "evolution_integration": "baileys",
            "evolution_typing_delay_ms": 20,
            "evolution_campanha_max_per_hour": 3,
        }
    )
    worker = Worker(
        WorkerContext.build(baileys, servicos.pool, servicos.redis, servicos.http, claude=servicos.claude)
    )
    await _medicos(pool, "sp", 5, ddd="11", crm="CRM/SP", tags=["cardio"])
    await campanhas.criar_campanha(
        pool, baileys, campanhas.NovaCampanha(id="baileys", tag="cardio", texto="Oi {primeiro_nome}")
    )
    await _devida_agora(pool, "baileys")
    await drenar(worker, pool, so_devidas=True)
    assert [json.loads(c.request.content)["delay"] for c in externos.envio.calls] == [20, 20, 20]
    adiadas = await pool.fetch(
        "SELECT agendar_para, last_error FROM fila_mensagens WHERE status = 'pendente'"
    )
    assert len(adiadas) == 2
    proxima_hora = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    assert all(abs((r["agendar_para"] - proxima_hora).total_seconds()) < 2 for r in adiadas)
    assert all("limite de mensagens não solicitadas" in r["last_error"] for r in adiadas)


async def test_resposta_do_agente_fora_das_24_horas_na_cloud_api_nao_sai_e_o_agente_sabe(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, falso: Estado
) -> None:
    """An agent's reply from Chatwoot is free text: on the Cloud API, two days after the doctor last wrote,
    Meta would refuse it (131047); it ends 'erro' and the agent gets a private note (issue 36, point 5)."""
    await postar(cliente, upsert("Oi", numero="5511999990000", msg_id="A1"))
    await drenar(worker, pool)
    await pool.execute("UPDATE interacoes SET created_at = now() - interval '2 days'")
    chatwoot_id = await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations")
    corpo = mensagem_criada(chatwoot_id, "Dra., ainda tem interesse?", mensagem_id=5001, inbox_id=7)
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo))).json() == {"status": "enfileirada"}
    await drenar(worker, pool)
    assert len(falso.registro.enviadas) == 1  # only Júlia's reply, inside the window
    linha = await pool.fetchrow(
        "SELECT status, last_error FROM fila_mensagens WHERE chatwoot_message_id = 5001"
    )
    assert linha is not None
    assert (linha["status"], "131047" in linha["last_error"]) == ("erro", True)
    notas = [json.loads(c.request.content) for c in externos.mensagem.calls]
    assert [n["content"] for n in notas if n["private"]] == [NOTA_NAO_ENVIADA]
