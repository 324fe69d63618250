"""No unauthenticated work (issue 34): bodies capped before routing, credentials checked before a body
is read, /docs and /openapi.json off, /metrics behind its token and served from the worker's cached
gauges, Evolution's webhooks proved by their own secret and instance. The app over ASGI against the
session's real Postgres and Redis; request bodies are generators, so a test sees how much was read."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import SecretStr

from julia.data.operacao import Operation
from julia.services import gauges
from julia.settings import Settings
from tests.service.conftest import CW_SECRET, KEY, TOKEN_CW, upsert

TOKEN_ADMIN = "admin-portaria"
METRICS_TOKEN = "metricas-portaria"
CHUNK = 64 * 1024
HUNDRED_MB = 100 * 1024 * 1024


class Body:
    """A 100 MB request body, produced as it is read."""

    def __init__(self) -> None:
        self.read_ones = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.read_ones < HUNDRED_MB:
            self.read_ones += CHUNK
            yield b"x" * CHUNK


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"admin_token": SecretStr(TOKEN_ADMIN), "metrics_token": SecretStr(METRICS_TOKEN)}
    )


async def _send(cliente: httpx.AsyncClient, caminho: str, corpo: Body, **kw: object) -> httpx.Response:
    return await cliente.post(caminho, content=corpo, **kw)  # type: ignore[arg-type]


ROUTES = ["/webhooks/evolution", "/webhooks/chatwoot", "/admin/vagas", "/admin/campanhas", "/nada"]


@pytest.mark.parametrize("caminho", ROUTES)
async def test_a_large_content_length_is_refused_unread(cliente: httpx.AsyncClient, caminho: str) -> None:
    corpo = Body()
    resposta = await _send(cliente, caminho, corpo, headers={"content-length": str(HUNDRED_MB)})
    assert resposta.status_code == 413
    assert resposta.headers["connection"] == "close"
    assert corpo.read_ones == 0


@pytest.mark.parametrize(
    ("caminho", "headers"),
    [
        ("/webhooks/evolution", {}),
        ("/webhooks/evolution", {"apikey": "errada"}),
        ("/webhooks/chatwoot", {}),
        ("/webhooks/chatwoot", {"x-julia-token": "errado"}),
        ("/webhooks/chatwoot", {"x-chatwoot-signature": "sha256=00", "x-chatwoot-timestamp": "1"}),
        ("/admin/vagas", {}),
        ("/admin/vagas", {"authorization": "Bearer errado"}),
        ("/admin/campanhas", {}),
    ],
)
async def test_without_credentials_nothing_of_the_body_is_read(
    cliente: httpx.AsyncClient, caminho: str, headers: dict[str, str]
) -> None:
    corpo = Body()
    resposta = await _send(cliente, caminho, corpo, headers=headers)
    assert resposta.status_code == 401
    assert corpo.read_ones == 0


@pytest.mark.parametrize(
    ("caminho", "headers"),
    [
        ("/webhooks/evolution", {"apikey": KEY}),
        ("/webhooks/chatwoot", {"x-julia-token": TOKEN_CW}),
        ("/admin/vagas", {"authorization": f"Bearer {TOKEN_ADMIN}"}),
    ],
)
async def test_a_chunked_body_stops_at_the_limit(
    cliente: httpx.AsyncClient, settings: Settings, caminho: str, headers: dict[str, str]
) -> None:
    corpo = Body()
    resposta = await _send(cliente, caminho, corpo, headers=headers)
    assert resposta.status_code == 413
    assert corpo.read_ones <= settings.max_body_bytes + CHUNK


async def test_chatwoot_stamp_with_unicode_digit_is_401(cliente: httpx.AsyncClient) -> None:
    raw = b'{"event": "conversation_updated", "id": 1}'
    stamp = "²"
    signature = hmac.new(CW_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    resposta = await cliente.post(
        "/webhooks/chatwoot",
        content=raw,
        # Latin-1 on the wire, as a client sends it: the server reads headers as Latin-1.
        headers={b"x-chatwoot-signature": f"sha256={signature}".encode(), b"x-chatwoot-timestamp": b"\xb2"},
    )
    assert resposta.status_code == 401


async def test_a_fresh_right_signature_passes(cliente: httpx.AsyncClient) -> None:
    raw = b'{"event": "conversation_created"}'
    stamp = str(int(time.time()))
    signature = hmac.new(CW_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {"x-chatwoot-signature": f"sha256={signature}", "x-chatwoot-timestamp": stamp}
    resposta = await cliente.post("/webhooks/chatwoot", content=raw, headers=headers)
    assert resposta.status_code == 200
    headers["x-chatwoot-signature"] = "sha256=" + "0" * 64
    assert (await cliente.post("/webhooks/chatwoot", content=raw, headers=headers)).status_code == 401


@pytest.mark.parametrize("caminho", ["/docs", "/openapi.json", "/redoc"])
async def test_api_docs_off_by_default(cliente: httpx.AsyncClient, caminho: str) -> None:
    assert (await cliente.get(caminho)).status_code == 404


async def test_api_docs_on_by_setting(settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
    from julia.api.app import create_app

    app = create_app(settings.model_copy(update={"api_docs": True}), pool=pool, redis=redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://julia") as cliente:
        assert (await cliente.get("/openapi.json")).status_code == 200


async def test_metrics_asks_for_the_token(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient
) -> None:
    assert (await cliente.get("/metrics")).status_code == 401
    wrong = await cliente.get("/metrics", headers={"authorization": "Bearer errado"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    app.state.settings = settings.model_copy(update={"metrics_token": None})
    assert (await cliente.get("/metrics")).status_code == 503


async def test_metrics_reads_the_workers_gauges_not_postgres(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    """The worker's last alert round counted 7 open messages; Postgres has none now: a scrape says 7."""
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 0
    await gauges.publish(redis, pool, Operation(0, 7, 42.0, 3, 3, 12.0, 0, 0.0))
    resposta = await cliente.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert resposta.status_code == 200
    assert "julia_fila_entradas_abertas 7.0" in resposta.text
    assert "julia_fila_envio_vencidas 3.0" in resposta.text


async def test_with_a_secret_the_sending_key_does_not_authenticate_the_webhook(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    app.state.settings = settings.model_copy(
        update={"evolution_webhook_secret": SecretStr("segredo-evo"), "evolution_webhook_body_key": True}
    )
    key_only = await cliente.post("/webhooks/evolution", json=upsert(apikey=KEY), headers={"apikey": KEY})
    assert key_only.status_code == 401
    right = await cliente.post("/webhooks/evolution", json=upsert(), headers={"x-julia-token": "segredo-evo"})
    assert right.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 1


async def test_without_secret_the_sending_key_authenticates_only_if_a_setting_says_so(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Issue 34: the sending key proves a webhook only under EVOLUTION_WEBHOOK_SENDING_KEY (julia serve
    refuses to start with neither it nor a secret: tests/acceptance/test_cli_errors.py)."""
    app.state.settings = settings.model_copy(update={"evolution_webhook_sending_key": False})
    refused = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": KEY})
    assert refused.status_code == 401
    app.state.settings = settings.model_copy(update={"evolution_webhook_sending_key": True})
    accepted = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": KEY})
    assert accepted.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 1


async def test_another_instance_is_refused_without_storing(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    corpo = upsert()
    corpo["instance"] = "outra"
    resposta = await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": KEY})
    assert resposta.status_code == 403
    del corpo["instance"]
    assert (await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": KEY})).status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 0
