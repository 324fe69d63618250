"""Claude's daily budgets (issue 34, julia/services/budget.py): a lead's replies, a doctor's tokens, the
service's tokens; what each answers past it, the one Slack alert, the /metrics gauges. The app and the
worker against the session's real Postgres and Redis; Claude answers 17 tokens a call (12 in, 5 out)."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from julia.cache.titular import titular_keys
from julia.services import budget, gauges
from julia.settings import Settings
from julia.worker.loop import Worker
from julia.worker.reply import (
    AVISO_WITHOUT_CLAUDE,
    BUDGET_AVISO,
    LEAD_BUDGET_REASON,
    MEDICO_BUDGET_REASON,
)
from tests.service.conftest import METRICS, Externals, drain, post, upsert

TOKENS_PER_CALL = 17  # resposta_claude's usage: input 12 + output 5
MEDICO = "5511988880000"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"inbound_per_minute": 1000})


async def _medico(pool: asyncpg.Pool) -> int:
    """A qualified doctor (status ativo): a token budget, no reply budget."""
    return int(
        await pool.fetchval(
            "INSERT INTO clientes (telefone, primeiro_nome, status) VALUES ($1, 'Bia', 'ativo') RETURNING id",
            "+" + MEDICO,
        )
    )


async def _message(
    cliente: httpx.AsyncClient, worker: Worker, pool: asyncpg.Pool, texto: str, msg_id: str, numero: str
) -> None:
    assert (await post(cliente, upsert(texto, numero=numero, msg_id=msg_id))).status_code == 200
    await drain(worker, pool)


def _slack(externals: Externals) -> list[str]:
    return [json.loads(c.request.content)["text"] for c in externals.slack.calls]


async def test_a_lead_over_the_days_replies_goes_to_a_person(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals, settings: Settings
) -> None:
    worker._s.settings = settings.model_copy(update={"lead_claude_replies_per_day": 2})
    for i in range(4):
        await _message(cliente, worker, pool, f"oi {i}", f"LEAD{i}", "5511999990000")
    # Two replies by Claude, then the handoff with its truthful text; the fourth only stored and mirrored.
    assert externals.claude.call_count == 2
    texts = [t for _, t in externals.sent_texts()]
    assert texts[2:] == [BUDGET_AVISO]
    assert await pool.fetchval("SELECT motivo FROM handoffs") == LEAD_BUDGET_REASON
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 4
    assert await pool.fetchval("SELECT count(*) FROM entradas WHERE status <> 'feita'") == 0


async def test_a_medico_over_the_days_tokens_one_alert_then_a_person(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externals: Externals,
    settings: Settings,
) -> None:
    worker._s.settings = settings.model_copy(update={"claude_tokens_per_doctor_day": 2 * TOKENS_PER_CALL})
    medico_id = await _medico(pool)
    for i in range(4):
        await _message(cliente, worker, pool, f"plantão {i}", f"MED{i}", MEDICO)
    # The second reply reaches the budget (34 of 34): one alert; the third message goes to a person.
    assert externals.claude.call_count == 2
    alerts = [t for t in _slack(externals) if t.startswith(":money_with_wings:")]
    assert len(alerts) == 1
    assert f"O médico {medico_id} passou" in alerts[0]
    assert [t for _, t in externals.sent_texts()][2:] == [BUDGET_AVISO]
    assert await pool.fetchval("SELECT motivo FROM handoffs") == MEDICO_BUDGET_REASON
    # The doctor's counters are a key of their own, which an LGPD request finds by the doctor's id.
    assert budget.cliente_key(medico_id).encode() in await titular_keys(redis, MEDICO, medico_id)


async def test_the_service_goes_over_its_tokens_leads_stop_and_medicos_go_on(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externals: Externals,
    settings: Settings,
) -> None:
    worker._s.settings = settings.model_copy(update={"claude_tokens_per_day": 2 * TOKENS_PER_CALL})
    await _medico(pool)
    for i in range(2):
        await _message(cliente, worker, pool, f"plantão {i}", f"MED{i}", MEDICO)
    alerts = [t for t in _slack(externals) if t.startswith(":money_with_wings:")]
    assert len(alerts) == 1
    assert alerts[0].startswith(":money_with_wings: Júlia passou")
    # A lead now: one fixed text for the day, then stored and mirrored; no Claude call, no handoff.
    for i in range(3):
        await _message(cliente, worker, pool, f"quem é você {i}", f"LEAD{i}", "5511999990000")
    assert externals.claude.call_count == 2
    to_the_lead = [t for n, t in externals.sent_texts() if n == "5511999990000"]
    assert to_the_lead == [AVISO_WITHOUT_CLAUDE]
    assert await pool.fetchval("SELECT count(*) FROM handoffs") == 0
    # The doctor still gets Claude's answer, and no second alert is posted.
    await _message(cliente, worker, pool, "e amanhã?", "MED9", MEDICO)
    assert externals.claude.call_count == 3
    assert len([t for t in _slack(externals) if t.startswith(":money_with_wings:")]) == 1
    # /metrics shows the day's tokens from the worker's snapshot.
    await gauges.publish(redis, pool, None)
    texto = (await cliente.get("/metrics", headers=METRICS)).text
    assert f"julia_claude_hoje_tokens {float(3 * TOKENS_PER_CALL)}" in texto
    assert (await budget.usage(redis)).tokens == 3 * TOKENS_PER_CALL
