"""POST /webhooks/evolution: authentication, validation, what is stored and what is ignored."""

from __future__ import annotations

import socket

import asyncpg
import httpx
import httpx2
import redis.asyncio as aioredis
from fastapi import FastAPI

from julia.api.app import create_app
from julia.settings import Settings
from tests.service.conftest import CHAVE, postar, upsert


async def _contagem(pool: asyncpg.Pool) -> tuple[int, int, int]:
    linha = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM interacoes) AS i, (SELECT count(*) FROM entradas) AS e,"
        " (SELECT count(*) FROM clientes) AS c"
    )
    assert linha is not None
    return linha["i"], linha["e"], linha["c"]


async def test_mensagem_armazenada_antes_do_2xx(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await postar(cliente, upsert("Olá, Júlia"))
    assert resposta.status_code == 200
    assert resposta.json()["status"] == "recebida"
    linha = await pool.fetchrow(
        "SELECT c.telefone, c.status, i.conteudo, i.direcao, i.whatsapp_message_id, e.status AS trabalho"
        " FROM interacoes i JOIN clientes c ON c.id = i.cliente_id JOIN entradas e ON e.interacao_id = i.id"
    )
    assert linha is not None
    assert dict(linha) == {
        "telefone": "+5511999990000",
        "status": "novo",
        "conteudo": "Olá, Júlia",
        "direcao": "entrada",
        "whatsapp_message_id": "3EB0A1B2C3",
        "trabalho": "pendente",
    }


async def test_reentrega_nao_armazena_nada(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await postar(cliente, upsert())).json()["status"] == "recebida"
    segunda = await postar(cliente, upsert())
    assert segunda.status_code == 200
    assert segunda.json()["status"] == "duplicada"
    assert await _contagem(pool) == (1, 1, 1)


async def test_conversa_encerrada_abre_outra_e_reentrega_nao(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """A known doctor without an active conversation takes the webhook's slower path (the conversation
    opened in the message's transaction); a redelivery there opens nothing."""
    assert (await postar(cliente, upsert(msg_id="A1"))).json()["status"] == "recebida"
    await pool.execute("UPDATE conversations SET status = 'encerrada', encerrada_em = now()")
    assert (await postar(cliente, upsert(msg_id="A1"))).json()["status"] == "duplicada"
    assert await pool.fetchval("SELECT count(*) FROM conversations WHERE status = 'ativa'") == 0
    assert (await postar(cliente, upsert(msg_id="A2"))).json()["status"] == "recebida"
    linhas = await pool.fetch(
        "SELECT c.status, i.whatsapp_message_id FROM interacoes i"
        " JOIN conversations c ON c.id = i.conversa_id ORDER BY i.id"
    )
    assert [tuple(r) for r in linhas] == [("encerrada", "A1"), ("ativa", "A2")]


async def test_chave_errada_ou_ausente_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await cliente.post("/webhooks/evolution", json=upsert())).status_code == 401
    ruim = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": "errada"})
    assert ruim.status_code == 401
    assert (await cliente.post("/webhooks/evolution", json=upsert(apikey="outra"))).status_code == 401
    assert await _contagem(pool) == (0, 0, 0)


async def test_chave_no_corpo_aceita(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await cliente.post("/webhooks/evolution", json=upsert(apikey=CHAVE))
    assert resposta.status_code == 200
    assert await _contagem(pool) == (1, 1, 1)


async def test_rota_por_evento(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await cliente.post(
        "/webhooks/evolution/messages-upsert", json=upsert(), headers={"apikey": CHAVE}
    )
    assert resposta.status_code == 200
    assert await _contagem(pool) == (1, 1, 1)


async def test_json_malformado_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await cliente.post(
        "/webhooks/evolution", content=b'{"event": "messages.upsert", ', headers={"apikey": CHAVE}
    )
    assert resposta.status_code == 400
    assert "JSON" in resposta.json()["detail"]
    assert await _contagem(pool) == (0, 0, 0)


async def test_campos_ausentes_422_com_o_motivo(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    sem_id = upsert()
    del sem_id["data"]["key"]["id"]
    resposta = await postar(cliente, sem_id)
    assert resposta.status_code == 422
    assert resposta.json()["detail"] == "data.key.id is missing"
    sem_evento = upsert()
    del sem_evento["event"]
    assert (await postar(cliente, sem_evento)).status_code == 422
    assert (await postar(cliente, upsert(jid="abc@s.whatsapp.net"))).status_code == 422
    assert await _contagem(pool) == (0, 0, 0)


async def test_proprias_grupos_e_status_ignorados(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for corpo in (
        upsert(from_me=True),
        upsert(jid="120363025246125888@g.us", msg_id="G1"),
        upsert(jid="status@broadcast", msg_id="S1"),
    ):
        resposta = await postar(cliente, corpo)
        assert resposta.status_code == 200
        assert resposta.json()["status"] == "ignorada"
    assert await _contagem(pool) == (0, 0, 0)


async def test_texto_estendido_e_lid(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    estendida = upsert(msg_id="E1")
    estendida["data"]["message"] = {"extendedTextMessage": {"text": "texto longo"}}
    assert (await postar(cliente, estendida)).json()["status"] == "recebida"
    lid = upsert(jid="123456789012345@lid", msg_id="L1")
    lid["data"]["key"].update(remoteJidAlt="5521988887777@s.whatsapp.net", addressingMode="lid")
    assert (await postar(cliente, lid)).json()["status"] == "recebida"
    # A Brazilian mobile without the ninth digit is the same doctor as the one with it.
    antigo = upsert(numero="551188887777", msg_id="N1")
    assert (await postar(cliente, antigo)).json()["status"] == "recebida"
    telefones = {r["telefone"] for r in await pool.fetch("SELECT telefone FROM clientes")}
    assert telefones == {"+5511999990000", "+5521988887777", "+5511988887777"}


async def test_midia_armazenada_e_mensagem_de_protocolo_ignorada(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Issue 33: media is a person's message (stored, described); a protocol message is nobody's."""
    imagem = upsert()
    imagem["data"]["message"] = {"imageMessage": {"url": "https://mmg.whatsapp.net/x"}}
    assert (await postar(cliente, imagem)).json()["status"] == "recebida"
    assert await pool.fetchval("SELECT conteudo FROM interacoes") == "[imagem]"
    protocolo = upsert(msg_id="P1")
    protocolo["data"]["message"] = {"protocolMessage": {"type": "EPHEMERAL_SETTING"}}
    assert (await postar(cliente, protocolo)).json()["status"] == "ignorada"
    assert await _contagem(pool) == (1, 1, 1)


async def test_connection_update_registrado(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = {
        "event": "connection.update",
        "instance": "julia",
        "data": {"instance": "julia", "state": "close", "statusReason": 428},
    }
    assert (await postar(cliente, corpo)).status_code == 200
    corpo["data"] = {"instance": "julia", "state": "open", "statusReason": 200, "wuid": "55@s.whatsapp.net"}
    assert (await postar(cliente, corpo)).status_code == 200
    linha = await pool.fetchrow(
        "SELECT estado, status_reason FROM evolution_conexoes WHERE instancia = 'julia'"
    )
    assert linha is not None
    assert (linha["estado"], linha["status_reason"]) == ("open", 200)


async def test_outros_eventos_ignorados(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = {"event": "send.message", "instance": "julia", "data": {}}
    resposta = await postar(cliente, corpo)
    assert resposta.status_code == 200
    assert resposta.json() == {"status": "ignorada", "event": "send.message"}


async def test_postgres_fora_503(settings: Settings, redis: aioredis.Redis, http: httpx2.AsyncClient) -> None:
    """A pool whose server is gone (a port nothing listens on): Evolution must get 503 and retry."""
    with socket.socket() as livre:
        livre.bind(("127.0.0.1", 0))
        porta = livre.getsockname()[1]
    morto = await asyncpg.create_pool(
        f"postgresql://julia@127.0.0.1:{porta}/julia", min_size=0, max_size=1, timeout=2
    )
    try:
        app: FastAPI = create_app(settings, pool=morto, redis=redis, http=http)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as c:
            resposta = await postar(c, upsert())
        assert resposta.status_code == 503
    finally:
        await morto.close()
