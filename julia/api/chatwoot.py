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
(julia/services/repasse.py), once whatever the redeliveries; what julia will not send (to a doctor who
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
from julia.integrations.chatwoot import ROTULO_HUMANO, mensagem_de_agente
from julia.services import handoff
from julia.services.repasse import avisar_agente, nota, repassar
from julia.settings import Settings

router = APIRouter()
log = logging.getLogger(__name__)

JANELA_ASSINATURA_S = 300
MOTIVO_ROTULO = "rótulo 'humano' adicionado no Chatwoot"


def _iguais(fornecido: str, esperado: str) -> bool:
    """Constant-time; a value that is not encodable text (a lone surrogate) is simply not equal."""
    try:
        return hmac.compare_digest(fornecido.encode(), esperado.encode())
    except UnicodeEncodeError:
        return False


def falta_assinar(settings: Settings, cabecalhos: Any, token: str | None) -> bool:
    """Everything that can be checked before the body is read. False: authenticated (the token); True: a
    signature to check over the body, whose timestamp is already known fresh; HTTPException(401) else, so
    an unauthenticated body is never read."""
    assinatura = cabecalhos.get("x-chatwoot-signature")
    if settings.chatwoot_webhook_secret is not None and assinatura:
        carimbo = cabecalhos.get("x-chatwoot-timestamp", "")
        # isascii first: "²".isdigit() is True, and int("²") raises (it was a 500).
        if carimbo.isascii() and carimbo.isdigit() and abs(time.time() - int(carimbo)) <= JANELA_ASSINATURA_S:
            return True
    elif settings.chatwoot_webhook_token is not None:
        fornecido = token or cabecalhos.get("x-julia-token")
        esperado = settings.chatwoot_webhook_token.get_secret_value()
        if isinstance(fornecido, str) and _iguais(fornecido, esperado):
            return False
    raise HTTPException(401, "invalid Chatwoot signature or token")


def assinatura_valida(settings: Settings, cabecalhos: Any, bruto: bytes) -> bool:
    """The HMAC of "{timestamp}.{body}" (falta_assinar has checked the timestamp)."""
    assert settings.chatwoot_webhook_secret is not None
    segredo = settings.chatwoot_webhook_secret.get_secret_value().encode()
    carimbo = cabecalhos["x-chatwoot-timestamp"].encode()
    esperado = "sha256=" + hmac.new(segredo, carimbo + b"." + bruto, hashlib.sha256).hexdigest()
    return _iguais(cabecalhos["x-chatwoot-signature"], esperado)


@router.post("/webhooks/chatwoot")
async def chatwoot_webhook(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    clients: ClientsDep,
    tarefas: BackgroundTasks,
    token: str | None = None,
) -> dict[str, Any]:
    assinar = falta_assinar(settings, request.headers, token)
    bruto = await request.body()  # capped before routing (julia.api.guard)
    if assinar and not assinatura_valida(settings, request.headers, bruto):
        raise HTTPException(401, "invalid Chatwoot signature or token")
    try:
        corpo = json.loads(bruto)
    except ValueError:
        corpo = None
    if not isinstance(corpo, dict):
        raise HTTPException(400, "body is not a JSON object")
    evento = corpo.get("event")
    if evento == "message_created":
        return await _mensagem_criada(corpo, settings, pool, clients, tarefas)
    if evento not in ("conversation_updated", "conversation_status_changed"):
        return {"status": "ignorada", "event": evento}
    chatwoot_id = corpo.get("id")
    if not isinstance(chatwoot_id, int):
        raise HTTPException(422, "id (the conversation) is missing")
    rotulos = corpo.get("labels")
    if not isinstance(rotulos, list):
        rotulos = _rotulos_alterados(corpo.get("changed_attributes"))
    humano = rotulos is not None and ROTULO_HUMANO in rotulos and corpo.get("status") != "resolved"
    devolver = rotulos is not None or corpo.get("status") == "resolved"
    try:
        mudanca = await handoff.follow_label(
            pool, chatwoot_id, humano=humano, devolver=devolver, motivo=MOTIVO_ROTULO
        )
    except db.POSTGRES_DOWN as exc:
        raise HTTPException(503, "database unavailable, retry later") from exc
    if mudanca is None:
        return {"status": "desconhecida"}
    if mudanca.handoff is not None and clients.slack is not None:
        # After the commit (follow_label's transaction) and the response: the label is already there.
        tarefas.add_task(
            mudanca.handoff.notify, clients.slack, None, chatwoot_conversa_id=chatwoot_id, label=False
        )
    return {"status": "humano" if humano else "julia"}


async def _mensagem_criada(
    corpo: dict[str, Any],
    settings: Settings,
    pool: asyncpg.Pool,
    clients: Clients,
    tarefas: BackgroundTasks,
) -> dict[str, Any]:
    mensagem = mensagem_de_agente(corpo, settings.chatwoot_inbox_id)
    if mensagem is None:
        return {"status": "ignorada", "event": "message_created"}
    try:
        async with pool.acquire(timeout=10) as conn:
            repasse = await repassar(conn, mensagem)
    except db.POSTGRES_DOWN as exc:
        raise HTTPException(503, "database unavailable, retry later") from exc
    texto = nota(repasse, mensagem)
    if texto is not None and clients.chatwoot is not None:
        tarefas.add_task(avisar_agente, clients.chatwoot, mensagem.conversa_chatwoot, texto)
    log.info("Chatwoot message %s of %s: %s", mensagem.id, mensagem.agente, repasse)
    return {"status": repasse}


def _rotulos_alterados(alterados: Any) -> list[str] | None:
    """The current labels from `changed_attributes` ([{"label_list": {"current_value": [...]}}])."""
    if not isinstance(alterados, list):
        return None
    for item in alterados:
        if isinstance(item, dict) and isinstance(item.get("label_list"), dict):
            atual = item["label_list"].get("current_value")
            return [str(r) for r in atual] if isinstance(atual, list) else None
    return None
