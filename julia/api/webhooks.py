"""POST /webhooks/evolution: Evolution API v2 webhooks.

Also answers under `/webhooks/evolution/<event-suffix>` (Evolution's "webhook by events" mode appends e.g.
`/messages-upsert`); the event is always read from the body.

Answers: 401 bad or missing apikey (or secret); 403 another instance; 413 a body over MAX_CORPO; 400
malformed JSON, nesting deeper than MAX_PROFUNDIDADE, or an id holding NUL / a lone surrogate; 422 a
required field missing (the reason in `detail`; Evolution stops retrying 4xx, and nothing was stored); 503
Postgres unreachable (Evolution retries); 200 otherwise, after the message and its work row are committed.
Every message a person wrote is stored (julia/services/inbound.py): `status` says how (`recebida`,
`opt_out`: the stop words, the opt-out registered in the same transaction; `sem_telefone`: an `@lid`
sender without `remoteJidAlt`, kept apart; `duplicada`; `desconhecida`: an edit or delete of a message
julia never stored; `ignorada`: no person's message, such as julia's own, a group's, a reaction taken
back). `messages.edited` and `messages.delete` are read too.

`messages.update` (delivery receipts, Baileys' and the Cloud API's alike) is one statement per receipt
(julia/services/evolution_events.py): `status` `registrado`, `repetido` (it changed nothing: a repeat, a
delivery after the read), or `ignorada` (SERVER_ACK, SENT: no outcome yet). `connection.update` stores
the state and, for `close`/`refused`, stops every send before answering (julia/services/pause.py; `open`
lifts that stop); Redis unreachable then is a 503, so Evolution retries rather than the stop being lost.

Authentication comes first. With EVOLUTION_WEBHOOK_SECRET set, only its `X-Julia-Token` header authenticates;
without it, the sending key in an `apikey` header, and only when EVOLUTION_WEBHOOK_SENDING_KEY says so. Either
is checked before the body is read: without it, 401
unread, unless EVOLUTION_WEBHOOK_BODY_KEY lets the key be in the body, so a body that cannot be read (too
large, too deep, not JSON) cannot carry it either: 401, whatever else is wrong with it. An authenticated body
whose `instance` is not EVOLUTION_INSTANCE: 403. The doctor's text and name are repaired, not refused
(evolution.texto_limpo); ids are refused (evolution.identificador). Nothing from the body is echoed unless it
passed a check.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request
from pydantic import SecretStr
from redis.exceptions import RedisError

from julia import db
from julia.api.deps import CacheDep, PoolDep, SettingsDep
from julia.cache import Cache
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.evolution import (
    InvalidPayload,
    identifier,
    read_edit,
    read_message,
    read_receipt,
    read_removal,
)
from julia.metrics import metrics
from julia.services.evolution_events import record_connection, record_receipt
from julia.services.inbound import Record, Rules, record_change, record_message
from julia.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter()

# Evolution's largest real bodies are a 65,536-character text (up to 6 bytes each once JSON-escaped)
# plus its envelope and a quoted message: 1 MiB leaves room and bounds what one request can make us parse.
MAX_BODY = 1024 * 1024
# A messages.upsert nests about 6 deep (data.message.extendedTextMessage.contextInfo.quotedMessage...);
# beyond 64 it is not Evolution, and json would recurse towards a RecursionError (a 500).
MAX_DEPTH = 64
_STRING_JSON = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: linear even on an unclosed quote
_ONLY_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_EVENT = re.compile(r"[a-z][a-z0-9._-]{0,63}")
INT4 = range(-(2**31), 2**31)


class _Refusal(Exception):
    def __init__(self, status: int, motivo: str) -> None:
        self.status, self.motivo = status, motivo


def _equal(segredo: SecretStr | None, candidate: object) -> bool:
    """Equal to `segredo`, compared in constant time; a value that is not encodable text (a lone
    surrogate) is simply wrong."""
    if segredo is None or not isinstance(candidate, str):
        return False
    try:
        return hmac.compare_digest(candidate.encode(), segredo.get_secret_value().encode())
    except UnicodeEncodeError:
        return False


def _by_header(settings: Settings, headers: Any) -> bool:
    """EVOLUTION_WEBHOOK_SECRET in `X-Julia-Token` when it is set (then the sending key proves nothing
    here: a leaked key must not forge doctors' messages); otherwise the sending key in `apikey`, only when
    EVOLUTION_WEBHOOK_SENDING_KEY says so (`julia serve` refuses to start with neither)."""
    if settings.evolution_webhook_secret is not None:
        return _equal(settings.evolution_webhook_secret, headers.get("x-julia-token"))
    return settings.evolution_webhook_sending_key and _equal(
        settings.evolution_api_key, headers.get("apikey")
    )


def _key_in_body(settings: Settings) -> bool:
    """The body's `apikey` is looked at only when a setting asks for it, and never beside a secret."""
    return settings.evolution_webhook_body_key and settings.evolution_webhook_secret is None


def depth(raw: bytes) -> int:
    """How deep the JSON's arrays and objects nest, counted without parsing (brackets inside strings
    removed first); for a malformed body only an estimate, which json.loads then refuses anyway."""
    brackets = _STRING_JSON.sub(b"", raw).translate(None, _ONLY_BRACKETS)
    level = maximum = 0
    for c in brackets:
        level += 1 if c in b"[{" else -1
        maximum = max(maximum, level)
    return maximum


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _Refusal(413, f"body larger than {MAX_BODY} bytes")
    parts: list[bytes] = []
    total = 0
    async for part in request.stream():
        total += len(part)
        if total > MAX_BODY:
            raise _Refusal(413, f"body larger than {MAX_BODY} bytes")
        parts.append(part)
    return b"".join(parts)


def _read_json(raw: bytes) -> Any:
    if depth(raw) > MAX_DEPTH:
        raise _Refusal(400, f"JSON nested deeper than {MAX_DEPTH}")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Refusal(400, "body is not valid JSON") from exc


async def _authenticated_body(request: Request, settings: Settings) -> Any:
    """The parsed body of an authenticated request (the `apikey` header or body field); _Recusa(401)
    before anything else for anyone without the key."""
    by_header = _by_header(settings, request.headers)
    if not by_header and not _key_in_body(settings):
        raise _Refusal(401, "invalid apikey")  # before a byte of the body is read
    try:
        corpo = _read_json(await _read_body(request))
    except _Refusal:
        if not by_header:
            raise _Refusal(401, "invalid apikey") from None
        raise
    if not by_header and not (
        isinstance(corpo, dict) and _equal(settings.evolution_api_key, corpo.get("apikey"))
    ):
        raise _Refusal(401, "invalid apikey")
    # Another instance's events (a webhook URL shared or copied) are not this julia's doctors.
    if isinstance(corpo, dict) and corpo.get("instance") != settings.evolution_instance:
        raise _Refusal(403, "instance is not this julia's EVOLUTION_INSTANCE")
    return corpo


@router.post("/webhooks/evolution")
@router.post("/webhooks/evolution/{sufixo}")
async def evolution(
    request: Request, settings: SettingsDep, pool: PoolDep, cache: CacheDep
) -> dict[str, Any]:
    try:
        corpo = await _authenticated_body(request, settings)
    except _Refusal as exc:
        metrics.count_evolution_webhook("?", "negada" if exc.status in (401, 403) else "invalida")
        raise HTTPException(exc.status, exc.motivo) from None
    if not isinstance(corpo, dict):
        metrics.count_evolution_webhook("?", "invalida")
        raise HTTPException(400, "body is not a JSON object")
    evento = corpo.get("event")
    if not isinstance(evento, str) or not evento:
        metrics.count_evolution_webhook("?", "invalida")
        raise HTTPException(422, "event is missing")
    evento = evento.lower().replace("_", ".")  # some versions send MESSAGES_UPSERT
    if not _EVENT.fullmatch(evento):  # it is echoed and becomes a metric label: only a plain name
        metrics.count_evolution_webhook("?", "ignorada")
        return {"status": "ignorada"}
    try:
        if evento == "messages.upsert":
            return await _message(pool, cache, _rules(settings), corpo.get("data"))
        if evento in ("messages.edited", "messages.delete"):
            return await _change(pool, cache, _rules(settings), evento, corpo.get("data"))
        if evento == "messages.update":
            return await _receipt(pool, corpo.get("data"))
        if evento == "connection.update":
            return await _connection(pool, request.app.state.redis, corpo)
    except InvalidPayload as exc:
        metrics.count_evolution_webhook(evento, "invalida")
        raise HTTPException(exc.status, str(exc)) from exc
    except db.POSTGRES_DOWN as exc:
        log.error("webhook %s refused with 503, Postgres unreachable: %s", evento, exc)
        raise HTTPException(503, "database unavailable, retry later") from exc
    except RedisError as exc:
        log.error("webhook %s refused with 503, Redis unreachable: %s", evento, exc)
        raise HTTPException(503, "redis unavailable, retry later") from exc
    metrics.count_evolution_webhook(evento, "ignorada")
    return {"status": "ignorada", "event": evento}


def _rules(settings: Settings) -> Rules:
    return Rules(
        old_s=settings.mensagem_antiga_s,
        with_team=Chatwoot.configured(settings),
        max_chars=settings.inbound_max_chars,
        por_minuto=settings.inbound_per_minute,
        per_day=settings.inbound_per_day,
    )


@metrics.timed("processar_webhook")
async def _message(pool: PoolDep, cache: Cache, rules: Rules, data: Any) -> dict[str, Any]:
    if isinstance(data, list):  # tolerated: a batch of one
        data = data[0] if len(data) == 1 else None
    msg = read_message(data)
    if msg is None:
        metrics.count_evolution_webhook("messages.upsert", "ignorada")
        return {"status": "ignorada"}
    registro = await record_message(pool, cache, msg, rules)
    return _reply_body("messages.upsert", registro)


async def _change(pool: PoolDep, cache: Cache, rules: Rules, evento: str, data: Any) -> dict[str, Any]:
    """`messages.edited` / `messages.delete`: the doctor changed a message; stored as one of its own."""
    change = read_edit(data) if evento == "messages.edited" else read_removal(data)
    if change is None:
        metrics.count_evolution_webhook(evento, "ignorada")
        return {"status": "ignorada"}
    return _reply_body(evento, await record_change(pool, cache, change, rules))


def _reply_body(evento: str, registro: Record) -> dict[str, Any]:
    metrics.count_evolution_webhook(evento, registro.estado)
    if registro.entrada_id is None:
        return {"status": registro.estado}
    return {"status": registro.estado, "entrada_id": registro.entrada_id}


async def _receipt(pool: PoolDep, data: Any) -> dict[str, Any]:
    """`messages.update`: a delivery receipt, kept forward only (julia/services/evolution_events.py)."""
    receipt = read_receipt(data)
    if receipt is None:
        metrics.count_evolution_webhook("messages.update", "ignorada")
        return {"status": "ignorada"}
    atualizado = await record_receipt(pool, receipt)
    estado = "registrado" if atualizado else "repetido"
    metrics.count_evolution_webhook("messages.update", estado)
    return {"status": estado, "estado": receipt.estado}


async def _connection(pool: PoolDep, redis: aioredis.Redis, corpo: dict[str, Any]) -> dict[str, Any]:
    data = corpo.get("data")
    if not isinstance(data, dict):
        raise InvalidPayload("data.state is missing")
    estado = identifier(data.get("state"), "data.state")
    instancia = identifier(data.get("instance") or corpo.get("instance"), "instance")
    reason = data.get("statusReason")
    # A reason is informative only: one that is not an int4 (or is a JSON boolean) is stored as unknown.
    reason_ok = (
        reason if isinstance(reason, int) and not isinstance(reason, bool) and reason in INT4 else None
    )
    await record_connection(pool, redis, instancia, estado, reason_ok)
    metrics.count_evolution_webhook("connection.update", "conexao")
    return {"status": "registrada", "state": estado}
