"""The pieces are really connected: the webhook's doctor lookup goes through the cache, a reply
records timings in the metrics collector, and the admin routes are mounted on the service's app."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from julia.metrics import metrics
from julia.worker.loop import Worker
from tests.service.conftest import METRICS, Externals, drain, post, upsert


async def test_the_second_message_of_a_doctor_finds_them_in_the_cache(
    cliente: httpx.AsyncClient, app: FastAPI, pool: asyncpg.Pool
) -> None:
    await pool.execute("INSERT INTO clientes (telefone, primeiro_nome) VALUES ('+5511999990000', 'Ana')")
    antes = app.state.clients.cache.counts()["medico"]
    assert (await post(cliente, upsert("Oi", msg_id="A1"))).status_code == 200
    assert (await post(cliente, upsert("Tudo bem?", msg_id="A2"))).status_code == 200
    depois = app.state.clients.cache.counts()["medico"]
    assert depois["misses"] - antes["misses"] == 1
    assert depois["hits"] - antes["hits"] == 1


async def test_a_reply_is_timed_under_the_business_names(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    antes = {nome: dados.total for nome, dados in metrics.summary().items()}
    assert (await post(cliente, upsert("Tem plantão?", msg_id="B1"))).status_code == 200
    await drain(worker, pool)
    depois = metrics.summary()
    for nome in ("processar_webhook", "processar_mensagem", "gerar_resposta", "carregar_historico"):
        assert depois[nome].total > antes.get(nome, 0), nome


async def test_the_service_app_serves_health_and_metrics(cliente: httpx.AsyncClient) -> None:
    assert (await cliente.get("/health")).status_code == 200
    exposition = await cliente.get("/metrics", headers=METRICS)
    assert exposition.status_code == 200
    assert "julia_webhook_evolution_eventos_total" in exposition.text
