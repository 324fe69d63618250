"""Claude's daily budgets (issue 34, julia/services/orcamento.py): a lead's replies, a doctor's tokens, the
service's tokens; what each answers past it, the one Slack alert, the /metrics gauges. The app and the
worker against the session's real Postgres and Redis; Claude answers 17 tokens a call (12 in, 5 out)."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from julia.cache.titular import chaves_do_titular
from julia.services import gauges, orcamento
from julia.settings import Settings
from julia.worker.loop import Worker
from julia.worker.resposta import (
    AVISO_ORCAMENTO,
    AVISO_SEM_CLAUDE,
    MOTIVO_ORCAMENTO_LEAD,
    MOTIVO_ORCAMENTO_MEDICO,
)
from tests.service.conftest import METRICAS, Externos, drenar, postar, upsert

TOKENS_POR_CHAMADA = 17  # resposta_claude's usage: input 12 + output 5
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


async def _mensagem(
    cliente: httpx.AsyncClient, worker: Worker, pool: asyncpg.Pool, texto: str, msg_id: str, numero: str
) -> None:
    assert (await postar(cliente, upsert(texto, numero=numero, msg_id=msg_id))).status_code == 200
    await drenar(worker, pool)


def _slack(externos: Externos) -> list[str]:
    return [json.loads(c.request.content)["text"] for c in externos.slack.calls]


async def test_um_lead_passa_das_respostas_do_dia_e_vai_para_uma_pessoa(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, settings: Settings
) -> None:
    worker._s.settings = settings.model_copy(update={"lead_claude_replies_per_day": 2})
    for i in range(4):
        await _mensagem(cliente, worker, pool, f"oi {i}", f"LEAD{i}", "5511999990000")
    # Two replies by Claude, then the handoff with its truthful text; the fourth only stored and mirrored.
    assert externos.claude.call_count == 2
    textos = [t for _, t in externos.textos_enviados()]
    assert textos[2:] == [AVISO_ORCAMENTO]
    assert await pool.fetchval("SELECT motivo FROM handoffs") == MOTIVO_ORCAMENTO_LEAD
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 4
    assert await pool.fetchval("SELECT count(*) FROM entradas WHERE status <> 'feita'") == 0


async def test_um_medico_passa_dos_tokens_do_dia_um_alerta_e_depois_uma_pessoa(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externos: Externos,
    settings: Settings,
) -> None:
    worker._s.settings = settings.model_copy(update={"claude_tokens_per_doctor_day": 2 * TOKENS_POR_CHAMADA})
    medico_id = await _medico(pool)
    for i in range(4):
        await _mensagem(cliente, worker, pool, f"plantão {i}", f"MED{i}", MEDICO)
    # The second reply reaches the budget (34 of 34): one alert; the third message goes to a person.
    assert externos.claude.call_count == 2
    alertas = [t for t in _slack(externos) if t.startswith(":money_with_wings:")]
    assert len(alertas) == 1
    assert f"O médico {medico_id} passou" in alertas[0]
    assert [t for _, t in externos.textos_enviados()][2:] == [AVISO_ORCAMENTO]
    assert await pool.fetchval("SELECT motivo FROM handoffs") == MOTIVO_ORCAMENTO_MEDICO
    # The doctor's counters are a key of their own, which an LGPD request finds by the doctor's id.
    assert orcamento.chave_do_cliente(medico_id).encode() in await chaves_do_titular(redis, MEDICO, medico_id)


async def test_o_servico_passa_dos_tokens_leads_param_e_medicos_continuam(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externos: Externos,
    settings: Settings,
) -> None:
    worker._s.settings = settings.model_copy(update={"claude_tokens_per_day": 2 * TOKENS_POR_CHAMADA})
    await _medico(pool)
    for i in range(2):
        await _mensagem(cliente, worker, pool, f"plantão {i}", f"MED{i}", MEDICO)
    alertas = [t for t in _slack(externos) if t.startswith(":money_with_wings:")]
    assert len(alertas) == 1
    assert alertas[0].startswith(":money_with_wings: Júlia passou")
    # A lead now: one fixed text for the day, then stored and mirrored; no Claude call, no handoff.
    for i in range(3):
        await _mensagem(cliente, worker, pool, f"quem é você {i}", f"LEAD{i}", "5511999990000")
    assert externos.claude.call_count == 2
    para_o_lead = [t for n, t in externos.textos_enviados() if n == "5511999990000"]
    assert para_o_lead == [AVISO_SEM_CLAUDE]
    assert await pool.fetchval("SELECT count(*) FROM handoffs") == 0
    # The doctor still gets Claude's answer, and no second alert is posted.
    await _mensagem(cliente, worker, pool, "e amanhã?", "MED9", MEDICO)
    assert externos.claude.call_count == 3
    assert len([t for t in _slack(externos) if t.startswith(":money_with_wings:")]) == 1
    # /metrics shows the day's tokens from the worker's snapshot.
    await gauges.publish(redis, pool, None)
    texto = (await cliente.get("/metrics", headers=METRICAS)).text
    assert f"julia_claude_hoje_tokens {float(3 * TOKENS_POR_CHAMADA)}" in texto
    assert (await orcamento.uso(redis)).tokens == 3 * TOKENS_POR_CHAMADA
