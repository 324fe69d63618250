"""Service tests: the app and the worker against real Postgres and Redis, with Evolution, Anthropic,
Chatwoot and Slack mocked by respx in their real wire formats (docs/integrations.md), the bodies built by
julia.testing's fakes.

These tests use their own database (julia_servico) on the session's server, so they never fight other
tests over the shared `pool`, and clean the tables they touch before each test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import httpx2
import pytest
import redis.asyncio as aioredis
import respx
from fastapi import FastAPI
from pydantic import SecretStr

from julia import db, servers
from julia.api.app import create_app
from julia.services import campanhas
from julia.settings import Settings
from julia.testing import assembly, claude
from julia.testing.evolution import message_received, message_sent
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from tests.support import bridge

EVOLUTION = "http://evolution.test"
ANTHROPIC = "http://anthropic.test"
CHATWOOT = "http://chatwoot.test"
SLACK = "http://slack.test/services/T/B/x"
KEY = "chave-evolution"
CW_SECRET = "segredo-chatwoot"
TOKEN_CW = "token-chatwoot"
METRICS_TOKEN = "token-metricas"
METRICS = {"authorization": f"Bearer {METRICS_TOKEN}"}

TABLES = (
    "entradas, fila_mensagens, campanhas, handoffs, interacoes, conversations, clientes, evolution_conexoes,"
    " recibos"
)


@pytest.fixture(scope="session")
async def database(services: servers.Servers) -> AsyncIterator[asyncpg.Pool]:
    dsn = await db.fresh_database(services.database_url, "julia_servico")
    pool = await db.create_pool(dsn, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
async def pool(database: asyncpg.Pool, redis: aioredis.Redis) -> asyncpg.Pool:
    """The service database emptied of conversations (reference tables kept), and Redis emptied with it:
    TRUNCATE is not one of julia's write paths, so nothing invalidates the cache entries or rate
    counters it leaves behind, and ids restart per test."""
    await database.execute(f"TRUNCATE {TABLES} CASCADE")
    await redis.flushdb()
    return database


@pytest.fixture
def settings() -> Settings:
    return Settings(
        julia_model="claude-sonnet-4-6",  # settings.py's default, named: a change there moves no test
        evolution_url=EVOLUTION,
        evolution_api_key=SecretStr(KEY),
        evolution_webhook_sending_key=True,
        evolution_instance="julia",
        evolution_rate_per_s=1000,
        anthropic_api_key=SecretStr("test"),
        anthropic_base_url=ANTHROPIC,
        anthropic_max_retries=2,
        anthropic_timeout_s=5,
        chatwoot_url=CHATWOOT,
        chatwoot_api_token=SecretStr("tok"),
        chatwoot_account_id=1,
        chatwoot_inbox_id=7,
        chatwoot_webhook_secret=SecretStr(CW_SECRET),
        chatwoot_webhook_token=SecretStr(TOKEN_CW),
        slack_webhook_url=SLACK,
        metrics_token=SecretStr(METRICS_TOKEN),
        max_workers=8,
        queue_lease_s=60,
        # Campaigns may go at any hour and on any day: these tests must not depend on the wall clock. The
        # sending window has tests of its own (tests/unit/test_sending_window.py, test_canal.py).
        campanha_hora_inicio=0,
        campanha_hora_fim=24,
        campanha_on_weekends=True,
        campanha_on_holidays=True,
        # Baileys' typing delay before each campaign message (1.5 s by default, on the fake too) would make
        # campaign tests wait on it; test_canal.py sets it where it is what it tests. The hourly and daily
        # most (100, 500) stay on: only sends Evolution accepted count (julia/worker/quota.py).
        evolution_typing_delay_ms=0,
    )


@pytest.fixture
async def http(externals: Externals) -> AsyncIterator[httpx2.AsyncClient]:
    async with bridge.cliente(externals.router) as client:
        yield client


@pytest.fixture
def app(settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, http: httpx2.AsyncClient) -> FastAPI:
    return create_app(settings, pool=pool, redis=redis, http=http)


@pytest.fixture
async def cliente(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI (respx does not intercept this transport)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as c:
        yield c


@pytest.fixture
async def backing_servers(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    http: httpx2.AsyncClient,
    externals: Externals,
) -> AsyncIterator[WorkerContext]:
    s = assembly.worker_context(settings, pool, redis, http, bridge.RespxBridge(externals.router))
    yield s
    await s.claude.close()


@pytest.fixture
def worker(backing_servers: WorkerContext) -> Worker:
    return Worker(backing_servers, interval_s=0.02, backoff_inbound_s=0.01, backoff_send_s=0.01)


# --- the fake external services, in their wire formats --------------------------------------------


# Anthropic reports a cached system prompt on every call of a conversation, as julia's is in production.
USO_CACHE = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800}


def claude_reply(texto: str) -> httpx.Response:
    corpo = claude.message(
        "claude-sonnet-4-5",
        [claude.texto(texto)],
        "end_turn",
        "msg_01",
        {"input_tokens": 12, "output_tokens": 5, **USO_CACHE},
    )
    return httpx.Response(200, headers={"request-id": "req_1"}, json=corpo)


def claude_tool(*calls: tuple[str, dict[str, Any]], texto: str | None = None) -> httpx.Response:
    """Claude asking julia to run tools: `tool_use` blocks (after an optional text), stop_reason tool_use."""
    blocks: list[dict[str, Any]] = [claude.texto(texto)] if texto else []
    blocks += [
        claude.ferramenta(f"toolu_{i:02d}{nome}", nome, entrada) for i, (nome, entrada) in enumerate(calls, 1)
    ]
    corpo = claude.message(
        "claude-sonnet-4-5",
        blocks,
        "tool_use",
        "msg_02",
        {"input_tokens": 30, "output_tokens": 20, **USO_CACHE},
    )
    return httpx.Response(200, headers={"request-id": "req_3"}, json=corpo)


def claude_error(status: int, kind: str) -> httpx.Response:
    # retry-after-ms keeps the SDK's own backoff short in tests (it honours the header up to 60 s).
    return httpx.Response(
        status,
        headers={"request-id": "req_2", "retry-after-ms": "5"},
        json=claude.erro(kind, "boom", "req_2"),
    )


def eco_claude(request: httpx.Request) -> httpx.Response:
    """Claude that answers "Resposta a: <the doctor's last line>", so order can be checked."""
    corpo = json.loads(request.content)
    last_one = corpo["messages"][-1]["content"].splitlines()[-1]
    return claude_reply(f"Resposta a: {last_one}")


def sent(request: httpx.Request) -> httpx.Response:
    corpo = json.loads(request.content)
    return httpx.Response(
        201, json=message_sent(corpo["number"], corpo["text"], f"3EB0{time.time_ns()}", "julia")
    )


class Externals:
    """The respx routes of one test; `claude`, `envio` etc. are respx routes (calls, side_effect)."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.router = mock
        self.claude = mock.post(f"{ANTHROPIC}/v1/messages", name="claude").mock(side_effect=eco_claude)
        self.envio = mock.post(f"{EVOLUTION}/message/sendText/julia", name="envio").mock(side_effect=sent)
        base = f"{CHATWOOT}/api/v1/accounts/1"
        self.contato = mock.post(f"{base}/contacts", name="contato").mock(
            return_value=httpx.Response(
                200,
                json={
                    "payload": {
                        "contact": {"id": 501, "phone_number": "+5511999990000"},
                        "contact_inbox": {"inbox_id": 7, "source_id": "src-501"},
                    }
                },
            )
        )
        self.conversa = mock.post(f"{base}/conversations", name="conversa").mock(
            return_value=httpx.Response(200, json={"id": 901, "inbox_id": 7, "status": "open"})
        )
        self.message = mock.post(url__regex=rf"{base}/conversations/\d+/messages", name="mensagem").mock(
            return_value=httpx.Response(
                200, json={"id": 1, "message_type": 1, "created_at": int(time.time())}
            )
        )
        self.labels_read = mock.get(url__regex=rf"{base}/conversations/\d+/labels", name="rotulos_ler").mock(
            return_value=httpx.Response(200, json={"payload": ["plantao"]})
        )
        self.labels = mock.post(url__regex=rf"{base}/conversations/\d+/labels", name="rotulos").mock(
            side_effect=lambda r: httpx.Response(200, json={"payload": json.loads(r.content)["labels"]})
        )
        self.slack = mock.post(SLACK, name="slack").mock(return_value=httpx.Response(200, text="ok"))

    def mirrored_ones(self) -> list[dict[str, Any]]:
        """The messages julia posted to Chatwoot, each carrying julia's mark (a `source_id` "julia:...",
        random), shown without it."""
        bodies = [json.loads(c.request.content) for c in self.message.calls]
        assert all(c.pop("source_id").startswith("julia:") for c in bodies)
        return bodies

    def sent_texts(self) -> list[tuple[str, str]]:
        return [
            (json.loads(c.request.content)["number"], json.loads(c.request.content)["text"])
            for c in self.envio.calls
        ]


@pytest.fixture
def externals() -> Iterator[Externals]:
    with respx.mock(assert_all_called=False) as mock:
        yield Externals(mock)


# --- Evolution webhooks ------------------------------------------------------------------------


def upsert(
    texto: str = "Tenho interesse no plantão",
    *,
    numero: str = "5511999990000",
    msg_id: str = "3EB0A1B2C3",
    **campos: Any,
) -> dict[str, Any]:
    """A doctor's message as Evolution posts it, with these tests' defaults (`campos`: see
    mensagem_recebida)."""
    return message_received(texto, numero=numero, msg_id=msg_id, server_url=EVOLUTION, **campos)


async def post(cliente: httpx.AsyncClient, corpo: dict[str, Any], **kw: Any) -> httpx.Response:
    return await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": KEY}, **kw)


async def drain(worker: Worker, pool: asyncpg.Pool, limit_s: float = 20.0, *, due_only: bool = False) -> None:
    """Run the worker's steps until no inbound row and no queued message is open (retries included);
    `due_only`: a pending message scheduled for later (a campaign's) does not count as open."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        tarefas = await worker.claim_inbound(50)
        await asyncio.gather(*(worker._attempt(t) for t in tarefas))
        sent_ones = await worker.sender.dispatch()
        await worker.sender.wait_for()
        open_ones = await pool.fetchval(
            "SELECT (SELECT count(*) FROM entradas WHERE status IN ('pendente', 'processando'))"
            " + (SELECT count(*) FROM fila_mensagens WHERE status IN ('processando', 'enviando')"
            "    OR (status = 'pendente' AND (agendar_para <= now() OR NOT $1)))",
            due_only,
        )
        if not tarefas and not sent_ones and open_ones == 0:
            return
        if not tarefas and not sent_ones:
            await asyncio.sleep(0.01)
    raise AssertionError("work still open after the time limit")


async def campanha_due(pool: asyncpg.Pool, settings: Settings, campanha_id: str, medicos: int) -> None:
    """`medicos` new doctors tagged `cardio` and a campaign to them whose every message is due now."""

    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, status, tags)"
        " SELECT '+55119' || lpad(i::text, 8, '0'), 'Ana', 'ativo', ARRAY['cardio']"
        " FROM generate_series(1, $1::int) i",
        medicos,
    )
    nova = campanhas.NovaCampanha(id=campanha_id, tag="cardio", texto="Oi {primeiro_nome}", por_minuto=1000)
    await campanhas.criar_campanha(pool, settings, nova)
    await pool.execute("UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = $1", campanha_id)
