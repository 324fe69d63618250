"""Liveness, Prometheus and the operators' metrics routes.

- GET /health: liveness for the orchestrator; no I/O, so a slow database never gets the process killed.
- GET /metrics: Prometheus text format (see julia.metrics for multi-process uvicorn). Unauthenticated, as
  Prometheus scrapes expect; keep it on the internal network.
- GET /admin/metricas/performance and /admin/metricas/health: `Authorization: Bearer <ADMIN_TOKEN>`,
  compared in constant time. Missing or wrong: 401. ADMIN_TOKEN unset: 503, never open by default.

Reads from `request.app.state`: settings, pool, redis, metrics, and optionally `cache_stats` (Cache.contagens)
and `whatsapp_state` (an async callable returning Evolution's connection state; by default the state the
Evolution webhook recorded in evolution_conexoes).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from julia.data.operacao import contar_operacao
from julia.health import PROBE_TIMEOUT_S, HealthCheck
from julia.metrics import Metrics, hit_ratios
from julia.services.campanhas import publicar_metricas
from julia.settings import Settings

router = APIRouter()

CacheStats = Callable[[], Mapping[str, Mapping[str, float]]]  # Cache.contagens


async def require_admin(request: Request) -> None:  # async: see julia/api/deps.py
    settings: Settings = request.app.state.settings
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not token:
        raise HTTPException(503, "ADMIN_TOKEN is not set: the /admin routes are disabled")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "missing or wrong admin token", headers={"WWW-Authenticate": "Bearer"})


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    state = request.app.state
    metrics: Metrics = state.metrics
    # The queue gauges are read at scrape time (one indexed count, under the probe timeout): the worker
    # that drains the queues serves no /metrics of its own.
    await HealthCheck.build(state.settings, state.pool, state.redis, metrics).fila()
    await publicar_metricas(state.pool, metrics)  # the campaigns' counts, read now
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/admin/metricas/performance", dependencies=[Depends(require_admin)])
async def performance(request: Request) -> dict[str, Any]:
    state = request.app.state
    metrics: Metrics = state.metrics
    cache_stats: CacheStats | None = getattr(state, "cache_stats", None)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            fila: dict[str, Any] = asdict(await contar_operacao(state.pool))
    except Exception as error:  # the figures are optional; the latency summary still answers
        fila = {"erro": f"{type(error).__name__}: {error}"}
    # These keys, Portuguese and English as first published, are the route's contract: dashboards read them.
    return {
        # Percentiles are this process's own calls: with several workers, use /metrics (Prometheus).
        "processo": {"pid": os.getpid(), "janela_s": metrics.window_s, "amostras_max": metrics.capacity},
        "operacoes": {name: s.as_dict() for name, s in metrics.summary().items()},
        "contadores": metrics.counters(),
        "cache": hit_ratios(cache_stats()) if cache_stats else None,
        "fila": fila,
    }


@router.get("/admin/metricas/health", dependencies=[Depends(require_admin)])
async def health_report(request: Request) -> dict[str, Any]:
    state = request.app.state
    check = HealthCheck.build(
        state.settings, state.pool, state.redis, state.metrics, getattr(state, "whatsapp_state", None)
    )
    report = await check.check()
    return report.as_dict()
