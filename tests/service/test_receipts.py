"""Delivery receipts (`messages.update`) against real Postgres and Redis: forward only and idempotent
whatever the order, kept when they beat sendText's own 201, and counted in the campaign's report and
/metrics exactly as the fake Evolution reported them."""

from __future__ import annotations

import json
import random

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from julia.integrations.evolution import STATE_OF_STATUS
from julia.perf.engine.counting import Meter, cost
from julia.services import gauges
from julia.settings import Settings
from julia.testing.evolution import send_statuses, whatsapp_receipt
from julia.testing.state import ConfigEvolution
from julia.worker.loop import Worker
from tests.service.conftest import METRICS, Externals, campanha_due, drain, post, upsert

TOKEN = "token-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORDER = ["falhou", "entregue", "lida"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"admin_token": SecretStr(TOKEN), "campanha_hora_inicio": 0, "campanha_hora_fim": 24}
    )


async def _receipt(cliente: httpx.AsyncClient, msg_id: str, status: str, **kw: str) -> dict[str, str]:
    resposta = await post(cliente, whatsapp_receipt(msg_id, "5511999990000", status, **kw))
    assert resposta.status_code == 200, resposta.text
    return dict(resposta.json())


async def _state(pool: asyncpg.Pool, msg_id: str) -> str | None:
    estado: str | None = await pool.fetchval(
        "SELECT estado FROM recibos WHERE whatsapp_message_id = $1", msg_id
    )
    return estado


async def test_a_receipt_only_moves_forward_and_a_repeat_changes_nothing(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Before any row holds the id (the receipt beat sendText's 201 being recorded): kept all the same.
    assert (await _receipt(cliente, "3EB0R1", "SERVER_ACK"))["status"] == "ignorada"
    assert await _state(pool, "3EB0R1") is None
    assert (await _receipt(cliente, "3EB0R1", "READ"))["status"] == "registrado"
    assert (await _receipt(cliente, "3EB0R1", "DELIVERY_ACK"))["status"] == "repetido"  # late, lower
    assert (await _receipt(cliente, "3EB0R1", "READ"))["status"] == "repetido"  # a redelivery
    assert (await _receipt(cliente, "3EB0R1", "ERROR"))["status"] == "repetido"
    assert await _state(pool, "3EB0R1") == "lida"

    # The Cloud API's statuses, as Evolution forwards them (fromMe false, no error code).
    cloud = {"integracao": "cloud-api"}
    assert (await _receipt(cliente, "wamid.F1", "SENT", **cloud))["status"] == "ignorada"
    assert (await _receipt(cliente, "wamid.F1", "FAILED", **cloud))["status"] == "registrado"
    assert await _state(pool, "wamid.F1") == "falhou"
    assert await pool.fetchval(
        "SELECT status_whatsapp FROM recibos WHERE whatsapp_message_id = 'wamid.F1'"
    ) == ("FAILED")
    # Proof of delivery outranks a failure.
    assert (await _receipt(cliente, "wamid.F1", "DELIVERED", **cloud))["status"] == "registrado"
    assert await _state(pool, "wamid.F1") == "entregue"


async def test_our_phone_reading_a_doctors_message_is_not_a_receipt_of_ours(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await post(cliente, upsert("Oi", msg_id="3EB0DELA"))
    corpo = whatsapp_receipt("3EB0DELA", "5511999990000", "READ")
    corpo["data"]["fromMe"] = False
    assert (await post(cliente, corpo)).json()["status"] == "repetido"
    assert await pool.fetchval("SELECT count(*) FROM recibos") == 0


async def test_a_receipt_without_its_id_is_a_422_and_stores_nothing(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    corpo = whatsapp_receipt("x", "5511999990000", "DELIVERY_ACK")
    del corpo["data"]["keyId"]
    resposta = await post(cliente, corpo)
    assert resposta.status_code == 422
    assert "keyId" in resposta.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM recibos") == 0


def receipt_tallies(recibos: list[tuple[str, str, str]]) -> dict[str, int]:
    """What the fake reported of `(numero, msg_id, status)` receipts, as a campaign report counts it: per
    message, the furthest of its receipts."""
    final: dict[str, str] = {}
    for _, msg_id, status in recibos:
        estado = STATE_OF_STATUS.get(status)
        if estado is not None and (msg_id not in final or ORDER.index(estado) > ORDER.index(final[msg_id])):
            final[msg_id] = estado
    return {
        "entregues": sum(e in ("entregue", "lida") for e in final.values()),
        "lidas": sum(e == "lida" for e in final.values()),
        "nao_entregues": sum(e == "falhou" for e in final.values()),
    }


@pytest.mark.parametrize("integracao", ["baileys", "cloud-api"])
async def test_the_campaign_report_counts_what_the_fake_evolution_reported(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externals: Externals,
    integracao: str,
) -> None:
    await campanha_due(pool, settings, "rec", 60)
    await drain(worker, pool)
    enviadas = [
        (json.loads(c.request.content)["number"], c.response.json()["key"]["id"])
        for c in externals.envio.calls
    ]
    assert len(enviadas) == 60

    # The fake's receipts of every send: a fifth failed, half the rest read; each posted twice and in
    # reverse order (read before delivered), all messages' receipts shuffled together.
    config = ConfigEvolution(
        integracao=integracao,  # type: ignore[arg-type]
        fracao_falha_entrega=0.2,
        fracao_lida=0.5,
        recibos_repetidos=True,
        recibos_invertidos=True,
    )
    rng = random.Random(36)
    recibos = [(n, i, s) for n, i in enviadas for s in send_statuses(config, rng)]
    rng.shuffle(recibos)
    for numero, msg_id, status in recibos:
        resposta = await post(cliente, whatsapp_receipt(msg_id, numero, status, integracao=integracao))
        assert resposta.status_code == 200

    expected = receipt_tallies(recibos)
    assert expected["nao_entregues"] > 0  # the draw exercises every state
    assert expected["lidas"] > 0

    relatorio = (await cliente.get("/admin/campanhas/rec", headers=AUTH)).json()["relatorio"]
    assert {k: relatorio[k] for k in expected} == expected
    assert relatorio["enviadas"] == 60
    await gauges.publish(redis, pool, None)
    metrics = (await cliente.get("/metrics", headers=METRICS)).text
    for tally, n in expected.items():
        assert f'julia_campanha_mensagens{{campanha="rec",estado="{tally}"}} {float(n)}' in metrics


async def test_a_receipt_costs_one_postgres_statement_and_no_redis_command(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    """The webhook's hot path: Evolution posts two or three receipts for every message julia sends."""
    await _receipt(cliente, "3EB0AQUECE", "DELIVERY_ACK")  # the statement prepared, the app warm
    conn = await pool.acquire()
    try:
        meter = Meter(conn, redis)  # type: ignore[arg-type]
        antes = await meter.snapshot()
        await _receipt(cliente, "3EB0CUSTO", "DELIVERY_ACK")
        depois = await meter.snapshot()
    finally:
        await pool.release(conn)
    spent = cost(antes, depois)
    assert (spent.pg_statements, spent.redis_commands) == (1, 0)
