"""Liveness, Prometheus and the operators' metrics routes.

- GET /health: liveness for the orchestrator; no I/O, so a slow database never gets the process killed.
- GET /metrics: Prometheus text format (see julia.metrics for multi-process uvicorn), behind
  `Authorization: Bearer <METRICS_TOKEN>` (Prometheus's `authorization` scrape setting); 503 while unset.
  The gauges that need Postgres come from the worker's last alert round (julia.services.gauges).
- GET /admin/metricas/performance and /admin/metricas/health: `Authorization: Bearer <ADMIN_TOKEN>`,
  compared in constant time. Missing or wrong: 401. ADMIN_TOKEN unset: 503, never open by default.

Reads from `request.app.state`: settings, pool, redis, metrics, and optionally `cache_stats` (Cache.counts)
and `whatsapp_state` (an async callable returning Evolution's connection state; by default the state the
Evolution webhook recorded in evolution_conexoes).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import SecretStr

from julia.health import HealthCheck
from julia.metrics import Metrics, hit_ratios
from julia.services import gauges
from julia.services.admin import operation_counts
from julia.settings import Settings

router = APIRouter()

CacheStats = Callable[[], Mapping[str, Mapping[str, float]]]  # Cache.counts


def bearer_refusal(token: SecretStr | None, authorization: str, what: str) -> HTTPException | None:
    """None when `authorization` is `Bearer <token>` (constant-time compare); otherwise the answer: 503
    while the token is unset (closed, never open, by default), 401 for a missing or wrong one."""
    secret = token.get_secret_value() if token else ""
    if not secret:
        return HTTPException(503, f"{what} is not set: these routes are disabled")
    scheme, _, given = authorization.partition(" ")
    try:
        right = hmac.compare_digest(given.strip().encode(), secret.encode())
    except UnicodeEncodeError:  # a lone surrogate: not the token
        right = False
    if scheme.lower() != "bearer" or not right:
        return HTTPException(401, f"missing or wrong {what}", headers={"WWW-Authenticate": "Bearer"})
    return None


def admin_refusal(settings: Settings, authorization: str) -> HTTPException | None:
    """The admin token check, for julia.api.guard (before any body is read) and require_admin."""
    return bearer_refusal(settings.admin_token, authorization, "ADMIN_TOKEN")


async def require_admin(request: Request) -> None:  # async: see julia/api/deps.py
    refusal = admin_refusal(request.app.state.settings, request.headers.get("authorization", ""))
    if refusal is not None:
        raise refusal


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    state = request.app.state
    authorization = request.headers.get("authorization", "")
    refusal = bearer_refusal(state.settings.metrics_token, authorization, "METRICS_TOKEN")
    if refusal is not None:
        raise refusal
    metrics: Metrics = state.metrics
    # The queue and campaign gauges as the worker's last alert round counted them: one Redis GET, no
    # Postgres query per scrape (julia.services.gauges).
    await gauges.load(state.redis, metrics)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/admin/metricas/performance", dependencies=[Depends(require_admin)])
async def performance(request: Request) -> dict[str, Any]:
    state = request.app.state
    metrics: Metrics = state.metrics
    cache_stats: CacheStats | None = getattr(state, "cache_stats", None)
    queue = await operation_counts(state.pool)  # optional: the latency summary answers without it
    # These keys, Portuguese and English as first published, are the route's contract: dashboards read them.
    return {
        # Percentiles are this process's own calls: with several workers, use /metrics (Prometheus).
        "processo": {"pid": os.getpid(), "janela_s": metrics.window_s, "amostras_max": metrics.capacity},
        "operacoes": {name: s.as_dict() for name, s in metrics.summary().items()},
        "contadores": metrics.counters(),
        "cache": hit_ratios(cache_stats()) if cache_stats else None,
        "fila": queue,
    }


@router.get("/admin/metricas/health", dependencies=[Depends(require_admin)])
async def health_report(request: Request) -> dict[str, Any]:
    state = request.app.state
    check = HealthCheck.build(
        state.settings, state.pool, state.redis, state.metrics, getattr(state, "whatsapp_state", None)
    )
    report = await check.check()
    return report.as_dict()
