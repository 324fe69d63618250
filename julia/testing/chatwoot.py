"""Fake Chatwoot REST (the calls julia makes: contacts, conversations, messages, labels, profile, the
inbox, and the contact's deletion of an LGPD erasure), and the `message_created` webhook Chatwoot posts for
every message created, julia's own included (`message_created`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import time
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from julia.testing.state import State

BASE = "/api/v1/accounts/{conta}"

# The user whose api_access_token julia uses: Chatwoot makes it the sender of every message julia posts,
# so julia's own messages echo back as a person's ("type": "user"), like an agent's (user.rb webhook_data).
JULIA_USER = {"id": 1, "name": "Júlia", "email": "julia@revoluna.example", "type": "user"}
AGENT = {"id": 7, "name": "Marina", "email": "marina@revoluna.example", "type": "user"}


def message_created(
    conversa: int,
    texto: str,
    *,
    message_id: int,
    sender: dict[str, Any] | None = None,
    kind: str = "outgoing",
    privada: bool = False,
    source_id: str | None = None,
    inbox_id: int = 1,
    telefone: str = "+5511999990000",
    content_attributes: dict[str, Any] | None = None,
    attachments: int = 0,
) -> dict[str, Any]:
    """`message_created` as Chatwoot posts it: Message#webhook_data plus `event` (app/models/message.rb,
    app/listeners/webhook_listener.rb). `message_type` is a string here (an integer in REST answers),
    `created_at` ISO-8601, `sender` the agent (`sender`, AGENTE by default) or None; the conversation
    nested with its display id, labels and the contact (docs/integrations.md); `attachments` only when
    there are some (`anexos` images, as Attachment#push_event_data describes each)."""
    corpo: dict[str, Any] = {
        "event": "message_created",
        "id": message_id,
        "content": texto,
        "content_type": "text",
        "message_type": kind,
        "private": privada,
        "created_at": "2026-11-24T10:02:11.123Z",
        "content_attributes": content_attributes or {},
        "additional_attributes": {},
        "source_id": source_id,
        "sender": AGENT if sender is None else sender,
        "inbox": {"id": inbox_id, "name": "WhatsApp Júlia"},
        "account": {"id": 1, "name": "Revoluna"},
        "conversation": {
            "id": conversa,
            "inbox_id": inbox_id,
            "status": "open",
            "labels": ["humano"],
            "channel": "Channel::Api",
            "contact_inbox": {"contact_id": 55, "inbox_id": inbox_id, "source_id": telefone.lstrip("+")},
            "meta": {
                "sender": {
                    "id": 55,
                    "name": "Dra. Ana",
                    "phone_number": telefone,
                    "identifier": None,
                    "type": "contact",
                },
                "assignee": None,
            },
        },
    }
    if attachments:
        corpo["attachments"] = [
            {
                "id": 300 + i,
                "message_id": message_id,
                "file_type": "image",
                "account_id": 1,
                "extension": None,
                "data_url": f"https://chatwoot.example.com/rails/active_storage/blobs/{i}/foto.jpg",
                "thumb_url": f"https://chatwoot.example.com/rails/active_storage/representations/{i}/foto.jpg",
                "file_size": 48213,
                "width": 1080,
                "height": 1920,
            }
            for i in range(attachments)
        ]
    return corpo


def eco(conversa: int, corpo: dict[str, Any], *, message_id: int, inbox_id: int = 1) -> dict[str, Any]:
    """The `message_created` Chatwoot posts for a message julia created with `corpo` (its POST body): the
    token's user as sender, and what julia passed (type, privacy, source_id, content_attributes) kept."""
    return message_created(
        conversa,
        str(corpo.get("content")),
        message_id=message_id,
        sender=JULIA_USER,
        kind=str(corpo.get("message_type", "outgoing")),
        privada=bool(corpo.get("private")),
        source_id=corpo.get("source_id"),
        inbox_id=inbox_id,
        content_attributes=corpo.get("content_attributes"),
    )


def inbox(inbox_id: int, canal: str, webhook_url: str | None) -> dict[str, Any]:
    """GET /api/v1/accounts/{account}/inboxes/{id} (app/views/api/v1/models/_inbox.json.jbuilder, the
    fields julia reads and a few beside them); `webhook_url` only for an API channel."""
    corpo: dict[str, Any] = {
        "id": inbox_id,
        "channel_id": inbox_id,
        "name": "WhatsApp Júlia",
        "channel_type": canal,
        "greeting_enabled": False,
        "enable_auto_assignment": True,
        "working_hours_enabled": False,
        "timezone": "America/Sao_Paulo",
        "callback_webhook_url": None,
        "allow_messages_after_resolved": True,
        "lock_to_single_conversation": False,
        "provider": None,
    }
    if canal == "Channel::Api":
        corpo.update(
            {"webhook_url": webhook_url, "inbox_identifier": "aBcD1234", "additional_attributes": {}}
        )
    return corpo


def sign(corpo: bytes, segredo: str, delivery: str) -> dict[str, str]:
    """The headers of a signed account webhook (Chatwoot 4.11.2+): HMAC-SHA256 of "{timestamp}.{body}"."""
    stamp = str(int(time.time()))
    signature = hmac.new(segredo.encode(), stamp.encode() + b"." + corpo, hashlib.sha256).hexdigest()
    return {
        "X-Chatwoot-Signature": f"sha256={signature}",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Delivery": delivery,
    }


def routes(estado: State, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)
    labels: dict[int, list[str]] = {}
    contacts: dict[str, int] = {}
    inboxes: dict[int, int] = {}  # conversation -> its inbox, as julia created it
    deliveries_in_progress: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    async def deliver(corpo: dict[str, Any]) -> None:
        """Post `message_created` to the account webhook (when one is set), as many times as configured."""
        cfg = estado.config.chatwoot
        if cfg.webhook is None:
            return
        raw, delivery = json.dumps(corpo).encode(), str(uuid.uuid4())
        async with httpx.AsyncClient(timeout=10.0) as http:
            for _ in range(cfg.entregas):
                headers = {"Content-Type": "application/json"}
                if cfg.segredo is not None:
                    headers |= sign(raw, cfg.segredo, delivery)
                resposta = await http.post(cfg.webhook, content=raw, headers=headers)
                estado.registro.chatwoot_webhooks.append(resposta.status_code)

    def deliver_later(corpo: dict[str, Any]) -> None:
        """Like Chatwoot, which posts its webhooks from a background job once the message is committed."""
        task = asyncio.create_task(deliver(corpo))
        deliveries_in_progress.add(task)
        task.add_done_callback(deliveries_in_progress.discard)

    async def call(request: Request) -> tuple[Any, Response | None]:
        """Record the call and wait the latency: its JSON body, and a fault response (None: answer)."""
        corpo: Any = await request.json() if request.method == "POST" else None
        estado.registro.chatwoot.append(
            {"metodo": request.method, "caminho": request.url.path, "corpo": corpo}
        )
        cfg = estado.config.chatwoot
        await asyncio.sleep(cfg.latencia.sample_s(rng))
        if cfg.falha and rng.random() < cfg.fracao_falha:
            return corpo, JSONResponse({"error": "falso"}, status_code=int(cfg.falha))
        return corpo, None

    @router.get("/api/v1/profile")
    async def profile(request: Request) -> Response:
        token = estado.config.chatwoot.token
        if token is not None and request.headers.get("api_access_token") != token:
            return JSONResponse({"error": "Invalid Access Token"}, status_code=401)
        return JSONResponse(
            {"id": 1, "name": "Júlia", "account_id": 1, "accounts": [{"id": 1, "name": "Revoluna"}]}
        )

    @router.post(BASE + "/contacts")
    async def create_contact(conta: int, request: Request) -> Response:
        corpo, falha = await call(request)
        if falha is not None:
            return falha
        telefone = str(corpo.get("phone_number"))
        if telefone in contacts:
            return JSONResponse({"message": "Phone number has already been taken"}, status_code=422)
        contacts[telefone] = contato = next(ids)
        return JSONResponse(
            {
                "payload": {
                    "contact": {"id": contato, "name": corpo.get("name"), "phone_number": telefone},
                    "contact_inbox": {"inbox": {"id": corpo.get("inbox_id")}, "source_id": f"src{contato}"},
                }
            }
        )

    @router.get(BASE + "/contacts/search")
    async def find_contact(conta: int, q: str, request: Request) -> Response:
        _, falha = await call(request)
        if falha is not None:
            return falha
        findings = [{"id": i, "phone_number": t} for t, i in contacts.items() if t == q]
        return JSONResponse({"payload": findings, "meta": {"count": len(findings)}})

    @router.delete(BASE + "/contacts/{contato}")
    async def delete_contact(conta: int, contato: int, request: Request) -> Response:
        _, falha = await call(request)
        if falha is not None:
            return falha
        phones = [t for t, i in contacts.items() if i == contato]
        if not phones:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        del contacts[phones[0]]
        return Response(status_code=200)  # Rails' `head :ok`: no body

    @router.post(BASE + "/conversations")
    async def create_conversa(conta: int, request: Request) -> Response:
        corpo, falha = await call(request)
        if falha is not None:
            return falha
        conversa, inbox_id = next(ids), int(corpo.get("inbox_id") or 1)
        inboxes[conversa] = inbox_id
        return JSONResponse({"id": conversa, "status": "open", "inbox_id": inbox_id})

    @router.post(BASE + "/conversations/{conversa}/messages")
    async def create_message(conta: int, conversa: int, request: Request) -> Response:
        corpo, falha = await call(request)
        if falha is not None:
            return falha
        kind = {"incoming": 0, "outgoing": 1}.get(str(corpo.get("message_type")), 1)
        message_id = next(ids)
        deliver_later(eco(conversa, corpo, message_id=message_id, inbox_id=inboxes.get(conversa, 1)))
        return JSONResponse(
            {
                "id": message_id,
                "content": corpo.get("content"),
                "message_type": kind,  # an integer in the REST reply (a string in webhooks)
                "private": bool(corpo.get("private")),
                "created_at": int(time.time()),
                "conversation_id": conversa,
                # Stored as given (message_builder.rb message_params) and echoed in message_created.
                "source_id": corpo.get("source_id"),
                "content_attributes": corpo.get("content_attributes") or {},
                "sender": JULIA_USER,
            }
        )

    @router.post("/_controle/chatwoot/agente")
    async def agent_writes(
        conversa: int = Body(...),
        texto: str = Body(...),
        privada: bool = Body(False),
    ) -> dict[str, Any]:
        """An agent writes in conversation `conversa` (a reply, or a private note): the `message_created`
        is delivered before this answers, with julia's answers to each delivery."""
        corpo = message_created(
            conversa, texto, message_id=next(ids), privada=privada, inbox_id=inboxes.get(conversa, 1)
        )
        antes = len(estado.registro.chatwoot_webhooks)
        await deliver(corpo)
        return {"id": corpo["id"], "respostas": estado.registro.chatwoot_webhooks[antes:]}

    @router.get(BASE + "/inboxes/{inbox_id}")
    async def read_inbox(conta: int, inbox_id: int, request: Request) -> Response:
        _, falha = await call(request)
        if falha is not None:
            return falha
        cfg = estado.config.chatwoot
        return JSONResponse(inbox(inbox_id, cfg.canal, cfg.webhook_inbox))

    @router.get(BASE + "/conversations/{conversa}/labels")
    async def read_labels(conta: int, conversa: int, request: Request) -> Response:
        _, falha = await call(request)
        if falha is not None:
            return falha
        return JSONResponse({"payload": labels.get(conversa, [])})

    @router.post(BASE + "/conversations/{conversa}/labels")
    async def write_labels(conta: int, conversa: int, request: Request) -> Response:
        corpo, falha = await call(request)
        if falha is not None:
            return falha
        labels[conversa] = [str(r) for r in corpo.get("labels", [])]
        return JSONResponse({"payload": labels[conversa]})

    return router
