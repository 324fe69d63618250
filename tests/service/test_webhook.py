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
from tests.service.conftest import KEY, post, upsert


async def _tally(pool: asyncpg.Pool) -> tuple[int, int, int]:
    linha = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM interacoes) AS i, (SELECT count(*) FROM entradas) AS e,"
        " (SELECT count(*) FROM clientes) AS c"
    )
    assert linha is not None
    return linha["i"], linha["e"], linha["c"]


async def test_message_stored_before_the_2xx(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await post(cliente, upsert("Olá, Júlia"))
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


async def test_redelivery_stores_nothing(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await post(cliente, upsert())).json()["status"] == "recebida"
    second = await post(cliente, upsert())
    assert second.status_code == 200
    assert second.json()["status"] == "duplicada"
    assert await _tally(pool) == (1, 1, 1)


async def test_closed_conversa_opens_another_and_redelivery_does_not(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """A known doctor without an active conversation takes the webhook's slower path (the conversation
    opened in the message's transaction); a redelivery there opens nothing."""
    assert (await post(cliente, upsert(msg_id="A1"))).json()["status"] == "recebida"
    await pool.execute("UPDATE conversations SET status = 'encerrada', encerrada_em = now()")
    assert (await post(cliente, upsert(msg_id="A1"))).json()["status"] == "duplicada"
    assert await pool.fetchval("SELECT count(*) FROM conversations WHERE status = 'ativa'") == 0
    assert (await post(cliente, upsert(msg_id="A2"))).json()["status"] == "recebida"
    linhas = await pool.fetch(
        "SELECT c.status, i.whatsapp_message_id FROM interacoes i"
        " JOIN conversations c ON c.id = i.conversa_id ORDER BY i.id"
    )
    assert [tuple(r) for r in linhas] == [("encerrada", "A1"), ("ativa", "A2")]


async def test_wrong_or_missing_key_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await cliente.post("/webhooks/evolution", json=upsert())).status_code == 401
    bad = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": "errada"})
    assert bad.status_code == 401
    assert (await cliente.post("/webhooks/evolution", json=upsert(apikey="outra"))).status_code == 401
    assert await _tally(pool) == (0, 0, 0)


async def test_key_in_body_only_with_the_setting(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    assert (await cliente.post("/webhooks/evolution", json=upsert(apikey=KEY))).status_code == 401
    app.state.settings = settings.model_copy(update={"evolution_webhook_body_key": True})
    resposta = await cliente.post("/webhooks/evolution", json=upsert(apikey=KEY))
    assert resposta.status_code == 200
    assert await _tally(pool) == (1, 1, 1)


async def test_route_per_event(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await cliente.post(
        "/webhooks/evolution/messages-upsert", json=upsert(), headers={"apikey": KEY}
    )
    assert resposta.status_code == 200
    assert await _tally(pool) == (1, 1, 1)


async def test_malformed_json_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    resposta = await cliente.post(
        "/webhooks/evolution", content=b'{"event": "messages.upsert", ', headers={"apikey": KEY}
    )
    assert resposta.status_code == 400
    assert "JSON" in resposta.json()["detail"]
    assert await _tally(pool) == (0, 0, 0)


async def test_missing_fields_422_with_the_reason(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    without_id = upsert()
    del without_id["data"]["key"]["id"]
    resposta = await post(cliente, without_id)
    assert resposta.status_code == 422
    assert resposta.json()["detail"] == "data.key.id is missing"
    without_event = upsert()
    del without_event["event"]
    assert (await post(cliente, without_event)).status_code == 422
    assert (await post(cliente, upsert(jid="abc@s.whatsapp.net"))).status_code == 422
    assert await _tally(pool) == (0, 0, 0)


async def test_own_groups_and_status_ignored(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for corpo in (
        upsert(from_me=True),
        upsert(jid="120363025246125888@g.us", msg_id="G1"),
        upsert(jid="status@broadcast", msg_id="S1"),
    ):
        resposta = await post(cliente, corpo)
        assert resposta.status_code == 200
        assert resposta.json()["status"] == "ignorada"
    assert await _tally(pool) == (0, 0, 0)


async def test_extended_text_and_lid(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    extended = upsert(msg_id="E1")
    extended["data"]["message"] = {"extendedTextMessage": {"text": "texto longo"}}
    assert (await post(cliente, extended)).json()["status"] == "recebida"
    lid = upsert(jid="123456789012345@lid", msg_id="L1")
    lid["data"]["key"].update(remoteJidAlt="5521988887777@s.whatsapp.net", addressingMode="lid")
    assert (await post(cliente, lid)).json()["status"] == "recebida"
    # A Brazilian mobile without the ninth digit is the same doctor as the one with it.
    older = upsert(numero="551188887777", msg_id="N1")
    assert (await post(cliente, older)).json()["status"] == "recebida"
    phones = {r["telefone"] for r in await pool.fetch("SELECT telefone FROM clientes")}
    assert phones == {"+5511999990000", "+5521988887777", "+5511988887777"}


async def test_media_stored_and_protocol_message_ignored(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Issue 33: media is a person's message (stored, described); a protocol message is nobody's."""
    image = upsert()
    image["data"]["message"] = {"imageMessage": {"url": "https://mmg.whatsapp.net/x"}}
    assert (await post(cliente, image)).json()["status"] == "recebida"
    assert await pool.fetchval("SELECT conteudo FROM interacoes") == "[imagem]"
    protocol = upsert(msg_id="P1")
    protocol["data"]["message"] = {"protocolMessage": {"type": "EPHEMERAL_SETTING"}}
    assert (await post(cliente, protocol)).json()["status"] == "ignorada"
    assert await _tally(pool) == (1, 1, 1)


async def test_connection_update_recorded(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = {
        "event": "connection.update",
        "instance": "julia",
        "data": {"instance": "julia", "state": "close", "statusReason": 428},
    }
    assert (await post(cliente, corpo)).status_code == 200
    corpo["data"] = {"instance": "julia", "state": "open", "statusReason": 200, "wuid": "55@s.whatsapp.net"}
    assert (await post(cliente, corpo)).status_code == 200
    linha = await pool.fetchrow(
        "SELECT estado, status_reason FROM evolution_conexoes WHERE instancia = 'julia'"
    )
    assert linha is not None
    assert (linha["estado"], linha["status_reason"]) == ("open", 200)


async def test_other_events_ignored(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = {"event": "send.message", "instance": "julia", "data": {}}
    resposta = await post(cliente, corpo)
    assert resposta.status_code == 200
    assert resposta.json() == {"status": "ignorada", "event": "send.message"}


async def test_postgres_fora_503(settings: Settings, redis: aioredis.Redis, http: httpx2.AsyncClient) -> None:
    """A pool whose server is gone (a port nothing listens on): Evolution must get 503 and retry."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    dead = await asyncpg.create_pool(
        f"postgresql://julia@127.0.0.1:{port}/julia", min_size=0, max_size=1, timeout=2
    )
    try:
        app: FastAPI = create_app(settings, pool=dead, redis=redis, http=http)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as c:
            resposta = await post(c, upsert())
        assert resposta.status_code == 503
    finally:
        await dead.close()
