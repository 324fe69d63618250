"""POST /webhooks/chatwoot: the handoff switch driven by the agents' labels.

Authentication, either of:
- signed webhooks (Chatwoot 4.11.2+): `X-Chatwoot-Signature: sha256=<hex>` = HMAC-SHA256 of
  "{X-Chatwoot-Timestamp}.{raw body}" with CHATWOOT_WEBHOOK_SECRET, timestamp within 5 minutes;
- older, unsigned Chatwoot: CHATWOOT_WEBHOOK_TOKEN in the webhook URL (`?token=...`) or an
  `X-Julia-Token` header.
401 otherwise (also when neither is configured), decided before the body is read whenever the token or a
stale timestamp decides it; a signature is checked over the body, whose size julia.api.guard caps.
400 malformed JSON, 422 missing fields, 503 Postgres down.

`conversation_updated` / `conversation_status_changed`: the label `humano` present (and the conversation
not resolved) gives control to a person (a handoffs row, Slack notified once, after the answer); the
label gone or the conversation resolved gives it back to Júlia and resolves the handoff
(julia/services/handoff.py). Both are state transitions, so a retried delivery (same X-Chatwoot-Delivery)
changes nothing twice.

`message_created`: an agent's reply in julia's inbox (outgoing, not private, a person's, without julia's
mark: julia.integrations.chatwoot.mensagem_de_agente) is queued for the doctor before the 200
(julia/services/relay.py), once whatever the redeliveries; what julia will not send (to a doctor who
opted out, in a conversation not julia's, an attachment) gets a private note saying why, after the answer.
Every other message (Júlia's own mirrored ones, the doctor's, private notes) and every other event: 200,
nothing done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import asyncpg
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request

from julia import db
from julia.api.deps import ClientsDep, PoolDep, SettingsDep
from julia.clients import Clients
from julia.integrations.chatwoot import HUMAN_LABEL, agent_message
from julia.services import handoff
from julia.services.relay import note, notify_agent, relay_message
from julia.settings import Settings

router = APIRouter()
log = logging.getLogger(__name__)

SIGNATURE_WINDOW_S = 300
LABEL_REASON = "rótulo 'humano' adicionado no Chatwoot"


def _equal_ones(given: str, expected: str) -> bool:
    """Constant-time; a value that is not encodable text (a lone surrogate) is simply not equal."""
    try:
        return hmac.compare_digest(given.encode(), expected.encode())
    except UnicodeEncodeError:
        return False


def unsigned(settings: Settings, headers: Any, token: str | None) -> bool:
    """Everything that can be checked before the body is read. False: authenticated (the token); True: a
    signature to check over the body, whose timestamp is already known fresh; HTTPException(401) else, so
    an unauthenticated body is never read."""
    signature = headers.get("x-chatwoot-signature")
    if settings.chatwoot_webhook_secret is not None and signature:
        stamp = headers.get("x-chatwoot-timestamp", "")
        # isascii first: "²".isdigit() is True, and int("²") raises (it was a 500).
        if stamp.isascii() and stamp.isdigit() and abs(time.time() - int(stamp)) <= SIGNATURE_WINDOW_S:
            return True
    elif settings.chatwoot_webhook_token is not None:
        given = token or headers.get("x-julia-token")
        expected = settings.chatwoot_webhook_token.get_secret_value()
        if isinstance(given, str) and _equal_ones(given, expected):
            return False
    raise HTTPException(401, "invalid Chatwoot signature or token")


def valid_signature(settings: Settings, headers: Any, raw: bytes) -> bool:
    """The HMAC of "{timestamp}.{body}" (falta_assinar has checked the timestamp)."""
    assert settings.chatwoot_webhook_secret is not None
    segredo = settings.chatwoot_webhook_secret.get_secret_value().encode()
    stamp = headers["x-chatwoot-timestamp"].encode()
    expected = "sha256=" + hmac.new(segredo, stamp + b"." + raw, hashlib.sha256).hexdigest()
    return _equal_ones(headers["x-chatwoot-signature"], expected)


@router.post("/webhooks/chatwoot")
async def chatwoot_webhook(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    clients: ClientsDep,
    tarefas: BackgroundTasks,
    token: str | None = None,
) -> dict[str, Any]:
    sign = unsigned(settings, request.headers, token)
    raw = await request.body()  # capped before routing (julia.api.guard)
    if sign and not valid_signature(settings, request.headers, raw):
        raise HTTPException(401, "invalid Chatwoot signature or token")
    try:
        corpo = json.loads(raw)
    except ValueError:
        corpo = None
    if not isinstance(corpo, dict):
        raise HTTPException(400, "body is not a JSON object")
    evento = corpo.get("event")
    if evento == "message_created":
        return await _message_created(corpo, settings, pool, clients, tarefas)
    if evento not in ("conversation_updated", "conversation_status_changed"):
        return {"status": "ignorada", "event": evento}
    chatwoot_id = corpo.get("id")
    if not isinstance(chatwoot_id, int):
        raise HTTPException(422, "id (the conversation) is missing")
    labels = corpo.get("labels")
    if not isinstance(labels, list):
        labels = _labels_changed(corpo.get("changed_attributes"))
    human = labels is not None and HUMAN_LABEL in labels and corpo.get("status") != "resolved"
    give_back = labels is not None or corpo.get("status") == "resolved"
    try:
        change = await handoff.follow_label(
            pool, chatwoot_id, human=human, give_back=give_back, motivo=LABEL_REASON
        )
    except db.POSTGRES_DOWN as exc:
        raise HTTPException(503, "database unavailable, retry later") from exc
    if change is None:
        return {"status": "desconhecida"}
    if change.handoff is not None and clients.slack is not None:
        # After the commit (follow_label's transaction) and the response: the label is already there.
        tarefas.add_task(
            change.handoff.notify, clients.slack, None, chatwoot_conversa_id=chatwoot_id, label=False
        )
    return {"status": "humano" if human else "julia"}


async def _message_created(
    corpo: dict[str, Any],
    settings: Settings,
    pool: asyncpg.Pool,
    clients: Clients,
    tarefas: BackgroundTasks,
) -> dict[str, Any]:
    message = agent_message(corpo, settings.chatwoot_inbox_id)
    if message is None:
        return {"status": "ignorada", "event": "message_created"}
    try:
        async with pool.acquire(timeout=10) as conn:
            relay = await relay_message(conn, message)
    except db.POSTGRES_DOWN as exc:
        raise HTTPException(503, "database unavailable, retry later") from exc
    texto = note(relay, message)
    if texto is not None and clients.chatwoot is not None:
        tarefas.add_task(notify_agent, clients.chatwoot, message.conversa_chatwoot, texto)
    log.info("Chatwoot message %s of %s: %s", message.id, message.agent, relay)
    return {"status": relay}


def _labels_changed(changed_ones: Any) -> list[str] | None:
    """The current labels from `changed_attributes` ([{"label_list": {"current_value": [...]}}])."""
    if not isinstance(changed_ones, list):
        return None
    for item in changed_ones:
        if isinstance(item, dict) and isinstance(item.get("label_list"), dict):
            current = item["label_list"].get("current_value")
            return [str(r) for r in current] if isinstance(current, list) else None
    return None
