"""POST /webhooks/evolution: Evolution API v2 webhooks.

Also answers under `/webhooks/evolution/<event-suffix>` (Evolution's "webhook by events" mode appends
e.g. `/messages-upsert`); the event is always read from the body.

Answers: 401 bad or missing apikey; 400 malformed JSON; 422 a required field missing (the reason in
`detail`; Evolution stops retrying 4xx, and nothing was stored); 503 Postgres unreachable (Evolution
retries); 200 otherwise, after the message and its work row are committed.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from prometheus_client import Counter

from julia.api.deps import BANCO_INDISPONIVEL, CacheDep, PoolDep, SettingsDep
from julia.cache import Cache
from julia.integrations.evolution import PayloadInvalido, ler_mensagem
from julia.metrics import metrics
from julia.queries import sql
from julia.settings import Settings
from julia.worker.entrada import registrar_mensagem

log = logging.getLogger(__name__)
router = APIRouter()

EVENTOS = Counter(
    "julia_webhook_evolution_eventos_total",
    "Evolution webhooks by event and outcome (recebida, duplicada, ignorada, conexao, invalida, negada).",
    ["evento", "resultado"],
)


def autenticado(settings: Settings, cabecalho: str | None, corpo: Any) -> bool:
    """The `apikey` header or body field equals EVOLUTION_API_KEY, compared in constant time."""
    if settings.evolution_api_key is None:
        return False
    esperado = settings.evolution_api_key.get_secret_value().encode()
    candidatos = [cabecalho, corpo.get("apikey") if isinstance(corpo, dict) else None]
    return any(isinstance(c, str) and hmac.compare_digest(c.encode(), esperado) for c in candidatos)


def _ler_json(bruto: bytes) -> Any:
    try:
        return json.loads(bruto)
    except ValueError:
        return None


@router.post("/webhooks/evolution")
@router.post("/webhooks/evolution/{sufixo}")
async def evolution(
    request: Request, settings: SettingsDep, pool: PoolDep, cache: CacheDep
) -> dict[str, Any]:
    corpo = _ler_json(await request.body())
    if not autenticado(settings, request.headers.get("apikey"), corpo):
        EVENTOS.labels("?", "negada").inc()
        raise HTTPException(401, "invalid apikey")
    if not isinstance(corpo, dict):
        EVENTOS.labels("?", "invalida").inc()
        raise HTTPException(400, "body is not a JSON object")
    evento = corpo.get("event")
    if not isinstance(evento, str) or not evento:
        EVENTOS.labels("?", "invalida").inc()
        raise HTTPException(422, "event is missing")
    evento = evento.lower().replace("_", ".")  # some versions send MESSAGES_UPSERT
    try:
        if evento == "messages.upsert":
            return await _mensagem(pool, cache, corpo.get("data"))
        if evento == "connection.update":
            return await _conexao(pool, corpo)
    except PayloadInvalido as exc:
        EVENTOS.labels(evento, "invalida").inc()
        raise HTTPException(422, str(exc)) from exc
    except BANCO_INDISPONIVEL as exc:
        log.error("webhook %s refused with 503, Postgres unreachable: %s", evento, exc)
        raise HTTPException(503, "database unavailable, retry later") from exc
    EVENTOS.labels(evento, "ignorada").inc()
    return {"status": "ignorada", "event": evento}


@metrics.timed("processar_webhook")
async def _mensagem(pool: PoolDep, cache: Cache, data: Any) -> dict[str, Any]:
    if isinstance(data, list):  # tolerated: a batch of one
        data = data[0] if len(data) == 1 else None
    msg = ler_mensagem(data)
    if msg is None:
        EVENTOS.labels("messages.upsert", "ignorada").inc()
        return {"status": "ignorada"}
    entrada_id = await registrar_mensagem(pool, cache, msg)
    if entrada_id is None:
        EVENTOS.labels("messages.upsert", "duplicada").inc()
        return {"status": "duplicada"}
    EVENTOS.labels("messages.upsert", "recebida").inc()
    return {"status": "recebida", "entrada_id": entrada_id}


async def _conexao(pool: PoolDep, corpo: dict[str, Any]) -> dict[str, Any]:
    data = corpo.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        raise PayloadInvalido("data.state is missing")
    instancia = data.get("instance") or corpo.get("instance")
    if not isinstance(instancia, str) or not instancia:
        raise PayloadInvalido("instance is missing")
    razao = data.get("statusReason")
    await pool.execute(
        sql("registrar_conexao_evolution"),
        instancia,
        data["state"],
        razao if isinstance(razao, int) else None,
    )
    EVENTOS.labels("connection.update", "conexao").inc()
    return {"status": "registrada", "state": data["state"]}
