"""The routes: liveness, Prometheus, and the admin routes behind a bearer token (real Postgres and Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from julia.api.admin import router
from julia.metrics import Metrics
from julia.settings import Settings

TOKEN = "s3cret-admin-token"


def build_app(pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis, settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.settings = settings
    app.state.pool = pool
    app.state.redis = redis
    app.state.metrics = Metrics()
    return app


@pytest.fixture
async def app(pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis) -> FastAPI:
    return build_app(pool, redis, Settings(admin_token=SecretStr(TOKEN), metrics_token=SecretStr(TOKEN)))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://julia") as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = ["/admin/metricas/performance", "/admin/metricas/health"]


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_parse_as_prometheus_text(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.metrics.observe("buscar_vagas", 0.003)
    response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = families["julia_operation_duration_seconds"].samples
    assert [s.value for s in samples if s.name.endswith("_count")] == [1.0]
    # The queues (as the worker's alert round last counted them, julia.services.gauges) are always there.
    for gauge in ("entradas_abertas", "entrada_mais_antiga_segundos", "envio_vencidas"):
        assert families[f"julia_fila_{gauge}"].samples[0].value >= 0


@pytest.mark.parametrize("path", ADMIN)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_admin_routes_refuse_a_missing_or_wrong_token(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ADMIN)
async def test_admin_routes_are_closed_without_admin_token(
    pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis, path: str
) -> None:
    app = build_app(pool, redis, Settings(admin_token=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as client:
        response = await client.get(path, headers={"Authorization": "Bearer "})
    assert response.status_code == 503
    assert "ADMIN_TOKEN" in response.json()["detail"]


async def test_performance_summary(app: FastAPI, client: httpx.AsyncClient) -> None:
    for ms in range(1, 101):
        app.state.metrics.observe("buscar_vagas", ms / 1000)
    app.state.metrics.count("cache_hit")
    app.state.cache_stats = lambda: {"medico": {"hits": 9, "misses": 1, "errors": 0}}
    response = await client.get("/admin/metricas/performance", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    op = body["operacoes"]["buscar_vagas"]
    assert op["count"] == 100
    assert op["p50_ms"] == pytest.approx(50.5)
    assert op["p95_ms"] == pytest.approx(95.05)
    assert op["p99_ms"] == pytest.approx(99.01)
    assert body["contadores"] == {"cache_hit": 1}
    assert body["cache"]["medico"]["hit_ratio"] == 0.9
    assert body["fila"]["fila_pendente"] == 0
    assert body["processo"]["janela_s"] == 300


async def test_health_report(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def whatsapp() -> str:
        return "close"

    app.state.whatsapp_state = whatsapp
    for _ in range(5):
        app.state.metrics.observe("gerar_resposta", 25.0)  # beyond a Claude call's critical 20 s
    response = await client.get("/admin/metricas/health", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "critical"
    assert [p["key"] for p in body["problemas"]] == ["whatsapp", "p95:gerar_resposta"]
    assert body["postgres"]["ok"]
    assert body["redis"]["ok"]
