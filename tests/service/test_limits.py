"""No open wallet (issue 34): an inbound text is cut to INBOUND_MAX_CHARS before it is stored and sent to
Claude, and one number's messages over INBOUND_PER_MINUTE are stored (200) but never answered. The app
and the worker against the session's real Postgres and Redis, Claude and Evolution faked on the wire."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from julia.settings import Settings
from julia.worker.loop import Worker
from tests.service.conftest import Externals, drain, post, upsert

LIMIT = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"inbound_max_chars": 100, "inbound_per_minute": LIMIT})


async def _at_start_of_a_minute() -> None:
    """The count is per calendar minute: a burst sent across a minute's edge would count twice."""
    rest = 60 - time.time() % 60
    if rest < 10:
        await asyncio.sleep(rest + 0.1)


async def test_a_long_text_is_trimmed_in_the_database_and_for_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    assert (await post(cliente, upsert("a" * 70_000))).status_code == 200
    stored_one = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'entrada'")
    assert stored_one == "a" * 99 + "…"
    await drain(worker, pool)
    sent_to_claude = json.loads(externals.claude.calls.last.request.content)["messages"][-1]["content"]
    assert "a" * 99 + "…" in sent_to_claude
    assert "a" * 100 not in sent_to_claude


async def test_above_the_per_minute_limit_stores_without_calling_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _at_start_of_a_minute()
    for i in range(LIMIT + 5):
        resposta = await post(cliente, upsert(f"mensagem {i}", msg_id=f"RAJADA{i}"))
        assert resposta.status_code == 200  # every one is stored before the answer
    other_one = await post(cliente, upsert("sou outro médico", numero="5511988880000", msg_id="OUTRO"))
    assert other_one.status_code == 200
    # Over the limit: stored and mirrored like a deleted message ('registrar'), never given to Claude.
    handlings = await pool.fetchval(
        "SELECT array_agg(e.tratamento ORDER BY e.id) FROM entradas e"
        " JOIN clientes c ON c.id = e.cliente_id WHERE c.telefone = '+5511999990000'"
    )
    assert handlings == ["responder"] * LIMIT + ["registrar"] * 5
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == LIMIT + 6
    await drain(worker, pool)
    # One Claude call per answered message: the flooding number's first LIMITE, and the other doctor's.
    assert externals.claude.call_count == LIMIT + 1
    assert len(externals.sent_texts()) == LIMIT + 1


async def test_above_the_daily_limit_stores_without_calling_claude(
    cliente: httpx.AsyncClient,
    app: FastAPI,
    pool: asyncpg.Pool,
    worker: Worker,
    externals: Externals,
    settings: Settings,
) -> None:
    """INBOUND_PER_DAY, counted in the same round trip as the minute's: a number under the minute's limit
    still stops being answered past the day's (the minute's limit raised here so only the day's acts)."""
    app.state.settings = settings.model_copy(update={"inbound_per_minute": 1000, "inbound_per_day": LIMIT})
    for i in range(LIMIT + 2):
        assert (await post(cliente, upsert(f"mensagem {i}", msg_id=f"DIA{i}"))).status_code == 200
    handlings = await pool.fetchval("SELECT array_agg(tratamento ORDER BY id) FROM entradas")
    assert handlings == ["responder"] * LIMIT + ["registrar"] * 2
    await drain(worker, pool)
    assert externals.claude.call_count == LIMIT
