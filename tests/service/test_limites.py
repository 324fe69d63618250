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
from tests.service.conftest import Externos, drenar, postar, upsert

LIMITE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"inbound_max_chars": 100, "inbound_per_minute": LIMITE})


async def _no_comeco_de_um_minuto() -> None:
    """The count is per calendar minute: a burst sent across a minute's edge would count twice."""
    resto = 60 - time.time() % 60
    if resto < 10:
        await asyncio.sleep(resto + 0.1)


async def test_um_texto_longo_e_cortado_no_banco_e_no_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    assert (await postar(cliente, upsert("a" * 70_000))).status_code == 200
    guardado = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'entrada'")
    assert guardado == "a" * 99 + "…"
    await drenar(worker, pool)
    enviado_ao_claude = json.loads(externos.claude.calls.last.request.content)["messages"][-1]["content"]
    assert "a" * 99 + "…" in enviado_ao_claude
    assert "a" * 100 not in enviado_ao_claude


async def test_acima_do_limite_por_minuto_guarda_sem_chamar_o_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _no_comeco_de_um_minuto()
    for i in range(LIMITE + 5):
        resposta = await postar(cliente, upsert(f"mensagem {i}", msg_id=f"RAJADA{i}"))
        assert resposta.status_code == 200  # every one is stored before the answer
    outro = await postar(cliente, upsert("sou outro médico", numero="5511988880000", msg_id="OUTRO"))
    assert outro.status_code == 200
    # Over the limit: stored and mirrored like a deleted message ('registrar'), never given to Claude.
    tratamentos = await pool.fetchval(
        "SELECT array_agg(e.tratamento ORDER BY e.id) FROM entradas e"
        " JOIN clientes c ON c.id = e.cliente_id WHERE c.telefone = '+5511999990000'"
    )
    assert tratamentos == ["responder"] * LIMITE + ["registrar"] * 5
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == LIMITE + 6
    await drenar(worker, pool)
    # One Claude call per answered message: the flooding number's first LIMITE, and the other doctor's.
    assert externos.claude.call_count == LIMITE + 1
    assert len(externos.textos_enviados()) == LIMITE + 1


async def test_acima_do_limite_por_dia_guarda_sem_chamar_o_claude(
    cliente: httpx.AsyncClient,
    app: FastAPI,
    pool: asyncpg.Pool,
    worker: Worker,
    externos: Externos,
    settings: Settings,
) -> None:
    """INBOUND_PER_DAY, counted in the same round trip as the minute's: a number under the minute's limit
    still stops being answered past the day's (the minute's limit raised here so only the day's acts)."""
    app.state.settings = settings.model_copy(update={"inbound_per_minute": 1000, "inbound_per_day": LIMITE})
    for i in range(LIMITE + 2):
        assert (await postar(cliente, upsert(f"mensagem {i}", msg_id=f"DIA{i}"))).status_code == 200
    tratamentos = await pool.fetchval("SELECT array_agg(tratamento ORDER BY id) FROM entradas")
    assert tratamentos == ["responder"] * LIMITE + ["registrar"] * 2
    await drenar(worker, pool)
    assert externos.claude.call_count == LIMITE
