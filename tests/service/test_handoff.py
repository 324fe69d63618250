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
from tests.service.conftest import CW_SECRET, TOKEN_CW, Externals, drain, post, upsert

CHATWOOT_ID = 901  # what the fake Chatwoot gives the first conversation


def updated(labels: list[str], previous: list[str], status: str = "open") -> dict[str, Any]:
    return {
        "event": "conversation_updated",
        "id": CHATWOOT_ID,
        "status": status,
        "labels": labels,
        "changed_attributes": [{"label_list": {"previous_value": previous, "current_value": labels}}],
        "meta": {"sender": {"phone_number": "+5511999990000"}},
        "inbox_id": 7,
        "account_id": 1,
    }


def signed(corpo: dict[str, Any], segredo: str = CW_SECRET, delay_s: int = 0) -> dict[str, Any]:
    raw = json.dumps(corpo).encode()
    stamp = str(int(time.time()) - delay_s)
    signature = hmac.new(segredo.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Chatwoot-Signature": f"sha256={signature}",
            "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Delivery": "0b6d7c1e-1",
        },
    }


async def _conversa_no_chatwoot(cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker) -> None:
    await post(cliente, upsert("Oi"))
    await drain(worker, pool)
    assert await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations") == CHATWOOT_ID


async def test_label_added_and_removed(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    for _ in range(2):  # a retried delivery changes nothing twice
        resposta = await cliente.post(
            "/webhooks/chatwoot", **signed(updated(["plantao", "humano"], ["plantao"]))
        )
        assert resposta.status_code == 200
        assert resposta.json() == {"status": "humano"}
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert await pool.fetchval("SELECT count(*) FROM handoffs WHERE status = 'pendente'") == 1
    assert externals.slack.call_count == 1
    assert "+5511999990000" in json.loads(externals.slack.calls.last.request.content)["text"]

    await post(cliente, upsert("Tem alguém aí?", msg_id="B"))
    await drain(worker, pool)
    assert externals.envio.call_count == 1  # only the reply to "Oi": a person answers now

    resposta = await cliente.post("/webhooks/chatwoot", **signed(updated(["plantao"], ["plantao", "humano"])))
    assert resposta.json() == {"status": "julia"}
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "julia"
    linha = await pool.fetchrow("SELECT status, resolvido_em FROM handoffs")
    assert linha is not None
    assert linha["status"] == "resolvido"
    assert linha["resolvido_em"] is not None

    await post(cliente, upsert("E agora?", msg_id="C"))
    await drain(worker, pool)
    assert externals.envio.call_count == 2


async def test_resolved_conversa_returns_to_julia(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    await cliente.post("/webhooks/chatwoot", **signed(updated(["humano"], [])))
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    resolved = updated(["humano"], ["humano"], status="resolved")
    resolved["event"] = "conversation_status_changed"
    await cliente.post("/webhooks/chatwoot", **signed(resolved))
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "julia"
    assert await pool.fetchval("SELECT status FROM handoffs") == "resolvido"


async def test_shared_token_for_unsigned_chatwoot(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa_no_chatwoot(cliente, pool, worker)
    resposta = await cliente.post(
        "/webhooks/chatwoot", params={"token": TOKEN_CW}, json=updated(["humano"], [])
    )
    assert resposta.status_code == 200
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"


async def test_chatwoot_authentication_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = updated(["humano"], [])
    assert (await cliente.post("/webhooks/chatwoot", json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", params={"token": "x"}, json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **signed(corpo, segredo="outro"))).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **signed(corpo, delay_s=3600))).status_code == 401
    tampered = signed(corpo)
    tampered["content"] = tampered["content"].replace(b"humano", b"humana")
    assert (await cliente.post("/webhooks/chatwoot", **tampered)).status_code == 401


async def test_chatwoot_invalid_body(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    malformed = await cliente.post("/webhooks/chatwoot", params={"token": TOKEN_CW}, content=b"{nope")
    assert malformed.status_code == 400
    without_id = updated(["humano"], [])
    del without_id["id"]
    assert (await cliente.post("/webhooks/chatwoot", **signed(without_id))).status_code == 422
    other_one = {"event": "message_created", "message_type": "incoming", "content": "oi"}
    assert (await cliente.post("/webhooks/chatwoot", **signed(other_one))).json()["status"] == "ignorada"
