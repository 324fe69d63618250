"""POST /webhooks/chatwoot: the label `humano` hands the conversation to a person and back."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import asyncpg
import httpx

from julia.worker.loop import Worker
from tests.service.conftest import SEGREDO_CW, TOKEN_CW, Externos, drenar, postar, upsert

CHATWOOT_ID = 901  # what the fake Chatwoot gives the first conversation


def atualizada(labels: list[str], anteriores: list[str], status: str = "open") -> dict[str, Any]:
    return {
        "event": "conversation_updated",
        "id": CHATWOOT_ID,
        "status": status,
        "labels": labels,
        "changed_attributes": [{"label_list": {"previous_value": anteriores, "current_value": labels}}],
        "meta": {"sender": {"phone_number": "+5511999990000"}},
        "inbox_id": 7,
        "account_id": 1,
    }


def assinado(corpo: dict[str, Any], segredo: str = SEGREDO_CW, atraso_s: int = 0) -> dict[str, Any]:
    bruto = json.dumps(corpo).encode()
    carimbo = str(int(time.time()) - atraso_s)
    assinatura = hmac.new(segredo.encode(), carimbo.encode() + b"." + bruto, hashlib.sha256).hexdigest()
    return {
        "content": bruto,
        "headers": {
            "Content-Type": "application/json",
            "X-Chatwoot-Signature": f"sha256={assinatura}",
            "X-Chatwoot-Timestamp": carimbo,
            "X-Chatwoot-Delivery": "0b6d7c1e-1",
        },
    }


async def _conversa_no_chatwoot(cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker) -> None:
    await postar(cliente, upsert("Oi"))
    await drenar(worker, pool)
    assert await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations") == CHATWOOT_ID


async def test_rotulo_adicionado_e_removido(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    for _ in range(2):  # a retried delivery changes nothing twice
        resposta = await cliente.post(
            "/webhooks/chatwoot", **assinado(atualizada(["plantao", "humano"], ["plantao"]))
        )
        assert resposta.status_code == 200
        assert resposta.json() == {"status": "humano"}
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert await pool.fetchval("SELECT count(*) FROM handoffs WHERE status = 'pendente'") == 1
    assert externos.slack.call_count == 1
    assert "+5511999990000" in json.loads(externos.slack.calls.last.request.content)["text"]

    await postar(cliente, upsert("Tem alguém aí?", msg_id="B"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 1  # only the reply to "Oi": a person answers now

    resposta = await cliente.post(
        "/webhooks/chatwoot", **assinado(atualizada(["plantao"], ["plantao", "humano"]))
    )
    assert resposta.json() == {"status": "julia"}
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "julia"
    linha = await pool.fetchrow("SELECT status, resolvido_em FROM handoffs")
    assert linha is not None
    assert linha["status"] == "resolvido"
    assert linha["resolvido_em"] is not None

    await postar(cliente, upsert("E agora?", msg_id="C"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 2


async def test_conversa_resolvida_volta_para_julia(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    await cliente.post("/webhooks/chatwoot", **assinado(atualizada(["humano"], [])))
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    resolvida = atualizada(["humano"], ["humano"], status="resolved")
    resolvida["event"] = "conversation_status_changed"
    await cliente.post("/webhooks/chatwoot", **assinado(resolvida))
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "julia"
    assert await pool.fetchval("SELECT status FROM handoffs") == "resolvido"


async def test_token_compartilhado_para_chatwoot_sem_assinatura(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    resposta = await cliente.post(
        "/webhooks/chatwoot", params={"token": TOKEN_CW}, json=atualizada(["humano"], [])
    )
    assert resposta.status_code == 200
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"


async def test_autenticacao_chatwoot_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = atualizada(["humano"], [])
    assert (await cliente.post("/webhooks/chatwoot", json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", params={"token": "x"}, json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo, segredo="outro"))).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo, atraso_s=3600))).status_code == 401
    adulterado = assinado(corpo)
    adulterado["content"] = adulterado["content"].replace(b"humano", b"humana")
    assert (await cliente.post("/webhooks/chatwoot", **adulterado)).status_code == 401


async def test_chatwoot_corpo_invalido(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    malformado = await cliente.post("/webhooks/chatwoot", params={"token": TOKEN_CW}, content=b"{nope")
    assert malformado.status_code == 400
    sem_id = atualizada(["humano"], [])
    del sem_id["id"]
    assert (await cliente.post("/webhooks/chatwoot", **assinado(sem_id))).status_code == 422
    outro = {"event": "message_created", "message_type": "incoming", "content": "oi"}
    assert (await cliente.post("/webhooks/chatwoot", **assinado(outro))).json()["status"] == "ignorada"
