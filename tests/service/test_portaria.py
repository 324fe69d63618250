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

from julia.data.operacao import Operacao
from julia.services import gauges
from julia.settings import Settings
from tests.service.conftest import CHAVE, SEGREDO_CW, TOKEN_CW, upsert

TOKEN_ADMIN = "admin-portaria"
TOKEN_METRICAS = "metricas-portaria"
PEDACO = 64 * 1024
CEM_MB = 100 * 1024 * 1024


class Corpo:
    """A 100 MB request body, produced as it is read."""

    def __init__(self) -> None:
        self.lidos = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.lidos < CEM_MB:
            self.lidos += PEDACO
            yield b"x" * PEDACO


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"admin_token": SecretStr(TOKEN_ADMIN), "metrics_token": SecretStr(TOKEN_METRICAS)}
    )


async def _enviar(cliente: httpx.AsyncClient, caminho: str, corpo: Corpo, **kw: object) -> httpx.Response:
    return await cliente.post(caminho, content=corpo, **kw)  # type: ignore[arg-type]


ROTAS = ["/webhooks/evolution", "/webhooks/chatwoot", "/admin/vagas", "/admin/campanhas", "/nada"]


@pytest.mark.parametrize("caminho", ROTAS)
async def test_um_content_length_grande_e_recusado_sem_ler(cliente: httpx.AsyncClient, caminho: str) -> None:
    corpo = Corpo()
    resposta = await _enviar(cliente, caminho, corpo, headers={"content-length": str(CEM_MB)})
    assert resposta.status_code == 413
    assert resposta.headers["connection"] == "close"
    assert corpo.lidos == 0


@pytest.mark.parametrize(
    ("caminho", "cabecalhos"),
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
async def test_sem_credencial_nada_do_corpo_e_lido(
    cliente: httpx.AsyncClient, caminho: str, cabecalhos: dict[str, str]
) -> None:
    corpo = Corpo()
    resposta = await _enviar(cliente, caminho, corpo, headers=cabecalhos)
    assert resposta.status_code == 401
    assert corpo.lidos == 0


@pytest.mark.parametrize(
    ("caminho", "cabecalhos"),
    [
        ("/webhooks/evolution", {"apikey": CHAVE}),
        ("/webhooks/chatwoot", {"x-julia-token": TOKEN_CW}),
        ("/admin/vagas", {"authorization": f"Bearer {TOKEN_ADMIN}"}),
    ],
)
async def test_um_corpo_em_pedacos_para_no_limite(
    cliente: httpx.AsyncClient, settings: Settings, caminho: str, cabecalhos: dict[str, str]
) -> None:
    corpo = Corpo()
    resposta = await _enviar(cliente, caminho, corpo, headers=cabecalhos)
    assert resposta.status_code == 413
    assert corpo.lidos <= settings.max_body_bytes + PEDACO


async def test_carimbo_do_chatwoot_com_digito_unicode_e_401(cliente: httpx.AsyncClient) -> None:
    bruto = b'{"event": "conversation_updated", "id": 1}'
    carimbo = "²"
    assinatura = hmac.new(SEGREDO_CW.encode(), carimbo.encode() + b"." + bruto, hashlib.sha256).hexdigest()
    resposta = await cliente.post(
        "/webhooks/chatwoot",
        content=bruto,
        # Latin-1 on the wire, as a client sends it: the server reads headers as Latin-1.
        headers={b"x-chatwoot-signature": f"sha256={assinatura}".encode(), b"x-chatwoot-timestamp": b"\xb2"},
    )
    assert resposta.status_code == 401


async def test_uma_assinatura_fresca_e_certa_passa(cliente: httpx.AsyncClient) -> None:
    bruto = b'{"event": "conversation_created"}'
    carimbo = str(int(time.time()))
    assinatura = hmac.new(SEGREDO_CW.encode(), carimbo.encode() + b"." + bruto, hashlib.sha256).hexdigest()
    cabecalhos = {"x-chatwoot-signature": f"sha256={assinatura}", "x-chatwoot-timestamp": carimbo}
    resposta = await cliente.post("/webhooks/chatwoot", content=bruto, headers=cabecalhos)
    assert resposta.status_code == 200
    cabecalhos["x-chatwoot-signature"] = "sha256=" + "0" * 64
    assert (await cliente.post("/webhooks/chatwoot", content=bruto, headers=cabecalhos)).status_code == 401


@pytest.mark.parametrize("caminho", ["/docs", "/openapi.json", "/redoc"])
async def test_documentacao_da_api_desligada_por_padrao(cliente: httpx.AsyncClient, caminho: str) -> None:
    assert (await cliente.get(caminho)).status_code == 404


async def test_documentacao_da_api_ligada_pela_configuracao(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    from julia.api.app import create_app

    app = create_app(settings.model_copy(update={"api_docs": True}), pool=pool, redis=redis)
    transporte = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transporte, base_url="http://julia") as cliente:
        assert (await cliente.get("/openapi.json")).status_code == 200


async def test_metrics_pede_o_token(app: FastAPI, settings: Settings, cliente: httpx.AsyncClient) -> None:
    assert (await cliente.get("/metrics")).status_code == 401
    errado = await cliente.get("/metrics", headers={"authorization": "Bearer errado"})
    assert errado.status_code == 401
    assert errado.headers["www-authenticate"] == "Bearer"
    app.state.settings = settings.model_copy(update={"metrics_token": None})
    assert (await cliente.get("/metrics")).status_code == 503


async def test_metrics_le_os_gauges_do_worker_e_nao_o_postgres(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    """The worker's last alert round counted 7 open messages; Postgres has none now: a scrape says 7."""
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 0
    await gauges.publish(redis, pool, Operacao(0, 7, 42.0, 3, 3, 12.0, 0, 0.0))
    resposta = await cliente.get("/metrics", headers={"authorization": f"Bearer {TOKEN_METRICAS}"})
    assert resposta.status_code == 200
    assert "julia_fila_entradas_abertas 7.0" in resposta.text
    assert "julia_fila_envio_vencidas 3.0" in resposta.text


async def test_com_segredo_a_chave_de_envio_nao_autentica_o_webhook(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    app.state.settings = settings.model_copy(
        update={"evolution_webhook_secret": SecretStr("segredo-evo"), "evolution_webhook_body_key": True}
    )
    so_chave = await cliente.post("/webhooks/evolution", json=upsert(apikey=CHAVE), headers={"apikey": CHAVE})
    assert so_chave.status_code == 401
    certo = await cliente.post("/webhooks/evolution", json=upsert(), headers={"x-julia-token": "segredo-evo"})
    assert certo.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 1


async def test_sem_segredo_a_chave_de_envio_so_autentica_se_uma_configuracao_disser(
    app: FastAPI, settings: Settings, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Issue 34: the sending key proves a webhook only under EVOLUTION_WEBHOOK_SENDING_KEY (julia serve
    refuses to start with neither it nor a secret: tests/acceptance/test_cli_errors.py)."""
    app.state.settings = settings.model_copy(update={"evolution_webhook_sending_key": False})
    recusada = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": CHAVE})
    assert recusada.status_code == 401
    app.state.settings = settings.model_copy(update={"evolution_webhook_sending_key": True})
    aceita = await cliente.post("/webhooks/evolution", json=upsert(), headers={"apikey": CHAVE})
    assert aceita.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 1


async def test_outra_instancia_e_recusada_sem_guardar(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = upsert()
    corpo["instance"] = "outra"
    resposta = await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": CHAVE})
    assert resposta.status_code == 403
    del corpo["instance"]
    assert (
        await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": CHAVE})
    ).status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM entradas") == 0
