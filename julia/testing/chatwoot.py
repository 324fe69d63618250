"""Fake Chatwoot REST (the calls julia makes: contacts, conversations, messages, labels, profile, the
inbox, and the contact's deletion of an LGPD erasure), and the `message_created` webhook Chatwoot posts for
every message created, julia's own included (`mensagem_criada`)."""

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

from julia.testing.estado import Estado

BASE = "/api/v1/accounts/{conta}"

# The user whose api_access_token julia uses: Chatwoot makes it the sender of every message julia posts,
# so julia's own messages echo back as a person's ("type": "user"), like an agent's (user.rb webhook_data).
USUARIO_JULIA = {"id": 1, "name": "Júlia", "email": "julia@revoluna.example", "type": "user"}
AGENTE = {"id": 7, "name": "Marina", "email": "marina@revoluna.example", "type": "user"}


def mensagem_criada(
    conversa: int,
    texto: str,
    *,
    mensagem_id: int,
    remetente: dict[str, Any] | None = None,
    tipo: str = "outgoing",
    privada: bool = False,
    source_id: str | None = None,
    inbox_id: int = 1,
    telefone: str = "+5511999990000",
    content_attributes: dict[str, Any] | None = None,
    anexos: int = 0,
) -> dict[str, Any]:
    """`message_created` as Chatwoot posts it: Message#webhook_data plus `event` (app/models/message.rb,
    app/listeners/webhook_listener.rb). `message_type` is a string here (an integer in REST answers),
    `created_at` ISO-8601, `sender` the agent (`remetente`, AGENTE by default) or None; the conversation
    nested with its display id, labels and the contact (docs/integrations.md); `attachments` only when
    there are some (`anexos` images, as Attachment#push_event_data describes each)."""
    corpo: dict[str, Any] = {
        "event": "message_created",
        "id": mensagem_id,
        "content": texto,
        "content_type": "text",
        "message_type": tipo,
        "private": privada,
        "created_at": "2026-11-24T10:02:11.123Z",
        "content_attributes": content_attributes or {},
        "additional_attributes": {},
        "source_id": source_id,
        "sender": AGENTE if remetente is None else remetente,
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
    if anexos:
        corpo["attachments"] = [
            {
                "id": 300 + i,
                "message_id": mensagem_id,
                "file_type": "image",
                "account_id": 1,
                "extension": None,
                "data_url": f"https://chatwoot.example.com/rails/active_storage/blobs/{i}/foto.jpg",
                "thumb_url": f"https://chatwoot.example.com/rails/active_storage/representations/{i}/foto.jpg",
                "file_size": 48213,
                "width": 1080,
                "height": 1920,
            }
            for i in range(anexos)
        ]
    return corpo


def eco(conversa: int, corpo: dict[str, Any], *, mensagem_id: int, inbox_id: int = 1) -> dict[str, Any]:
    """The `message_created` Chatwoot posts for a message julia created with `corpo` (its POST body): the
    token's user as sender, and what julia passed (type, privacy, source_id, content_attributes) kept."""
    return mensagem_criada(
        conversa,
        str(corpo.get("content")),
        mensagem_id=mensagem_id,
        remetente=USUARIO_JULIA,
        tipo=str(corpo.get("message_type", "outgoing")),
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


def assinar(corpo: bytes, segredo: str, entrega: str) -> dict[str, str]:
    """The headers of a signed account webhook (Chatwoot 4.11.2+): HMAC-SHA256 of "{timestamp}.{body}"."""
    carimbo = str(int(time.time()))
    assinatura = hmac.new(segredo.encode(), carimbo.encode() + b"." + corpo, hashlib.sha256).hexdigest()
    return {
        "X-Chatwoot-Signature": f"sha256={assinatura}",
        "X-Chatwoot-Timestamp": carimbo,
        "X-Chatwoot-Delivery": entrega,
    }


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)
    rotulos: dict[int, list[str]] = {}
    contatos: dict[str, int] = {}
    inboxes: dict[int, int] = {}  # conversation -> its inbox, as julia created it
    entregas_em_curso: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    async def entregar(corpo: dict[str, Any]) -> None:
        """Post `message_created` to the account webhook (when one is set), as many times as configured."""
        cfg = estado.config.chatwoot
        if cfg.webhook is None:
            return
        bruto, entrega = json.dumps(corpo).encode(), str(uuid.uuid4())
        async with httpx.AsyncClient(timeout=10.0) as http:
            for _ in range(cfg.entregas):
                cabecalhos = {"Content-Type": "application/json"}
                if cfg.segredo is not None:
                    cabecalhos |= assinar(bruto, cfg.segredo, entrega)
                resposta = await http.post(cfg.webhook, content=bruto, headers=cabecalhos)
                estado.registro.chatwoot_webhooks.append(resposta.status_code)

    def entregar_depois(corpo: dict[str, Any]) -> None:
        """Like Chatwoot, which posts its webhooks from a background job once the message is committed."""
        tarefa = asyncio.create_task(entregar(corpo))
        entregas_em_curso.add(tarefa)
        tarefa.add_done_callback(entregas_em_curso.discard)

    async def chamada(request: Request) -> tuple[Any, Response | None]:
        """Record the call and wait the latency: its JSON body, and a fault response (None: answer)."""
        corpo: Any = await request.json() if request.method == "POST" else None
        estado.registro.chatwoot.append(
            {"metodo": request.method, "caminho": request.url.path, "corpo": corpo}
        )
        cfg = estado.config.chatwoot
        await asyncio.sleep(cfg.latencia.amostra_s(rng))
        if cfg.falha and rng.random() < cfg.fracao_falha:
            return corpo, JSONResponse({"error": "falso"}, status_code=int(cfg.falha))
        return corpo, None

    @router.get("/api/v1/profile")
    async def perfil(request: Request) -> Response:
        token = estado.config.chatwoot.token
        if token is not None and request.headers.get("api_access_token") != token:
            return JSONResponse({"error": "Invalid Access Token"}, status_code=401)
        return JSONResponse(
            {"id": 1, "name": "Júlia", "account_id": 1, "accounts": [{"id": 1, "name": "Revoluna"}]}
        )

    @router.post(BASE + "/contacts")
    async def criar_contato(conta: int, request: Request) -> Response:
        corpo, falha = await chamada(request)
        if falha is not None:
            return falha
        telefone = str(corpo.get("phone_number"))
        if telefone in contatos:
            return JSONResponse({"message": "Phone number has already been taken"}, status_code=422)
        contatos[telefone] = contato = next(ids)
        return JSONResponse(
            {
                "payload": {
                    "contact": {"id": contato, "name": corpo.get("name"), "phone_number": telefone},
                    "contact_inbox": {"inbox": {"id": corpo.get("inbox_id")}, "source_id": f"src{contato}"},
                }
            }
        )

    @router.get(BASE + "/contacts/search")
    async def buscar_contato(conta: int, q: str, request: Request) -> Response:
        _, falha = await chamada(request)
        if falha is not None:
            return falha
        achados = [{"id": i, "phone_number": t} for t, i in contatos.items() if t == q]
        return JSONResponse({"payload": achados, "meta": {"count": len(achados)}})

    @router.delete(BASE + "/contacts/{contato}")
    async def apagar_contato(conta: int, contato: int, request: Request) -> Response:
        _, falha = await chamada(request)
        if falha is not None:
            return falha
        telefones = [t for t, i in contatos.items() if i == contato]
        if not telefones:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        del contatos[telefones[0]]
        return Response(status_code=200)  # Rails' `head :ok`: no body

    @router.post(BASE + "/conversations")
    async def criar_conversa(conta: int, request: Request) -> Response:
        corpo, falha = await chamada(request)
        if falha is not None:
            return falha
        conversa, inbox_id = next(ids), int(corpo.get("inbox_id") or 1)
        inboxes[conversa] = inbox_id
        return JSONResponse({"id": conversa, "status": "open", "inbox_id": inbox_id})

    @router.post(BASE + "/conversations/{conversa}/messages")
    async def criar_mensagem(conta: int, conversa: int, request: Request) -> Response:
        corpo, falha = await chamada(request)
        if falha is not None:
            return falha
        tipo = {"incoming": 0, "outgoing": 1}.get(str(corpo.get("message_type")), 1)
        mensagem_id = next(ids)
        entregar_depois(eco(conversa, corpo, mensagem_id=mensagem_id, inbox_id=inboxes.get(conversa, 1)))
        return JSONResponse(
            {
                "id": mensagem_id,
                "content": corpo.get("content"),
                "message_type": tipo,  # an integer in the REST reply (a string in webhooks)
                "private": bool(corpo.get("private")),
                "created_at": int(time.time()),
                "conversation_id": conversa,
                # Stored as given (message_builder.rb message_params) and echoed in message_created.
                "source_id": corpo.get("source_id"),
                "content_attributes": corpo.get("content_attributes") or {},
                "sender": USUARIO_JULIA,
            }
        )

    @router.post("/_controle/chatwoot/agente")
    async def agente_escreve(
        conversa: int = Body(...),
        texto: str = Body(...),
        privada: bool = Body(False),
    ) -> dict[str, Any]:
        """An agent writes in conversation `conversa` (a reply, or a private note): the `message_created`
        is delivered before this answers, with julia's answers to each delivery."""
        corpo = mensagem_criada(
            conversa, texto, mensagem_id=next(ids), privada=privada, inbox_id=inboxes.get(conversa, 1)
        )
        antes = len(estado.registro.chatwoot_webhooks)
        await entregar(corpo)
        return {"id": corpo["id"], "respostas": estado.registro.chatwoot_webhooks[antes:]}

    @router.get(BASE + "/inboxes/{inbox_id}")
    async def ler_inbox(conta: int, inbox_id: int, request: Request) -> Response:
        _, falha = await chamada(request)
        if falha is not None:
            return falha
        cfg = estado.config.chatwoot
        return JSONResponse(inbox(inbox_id, cfg.canal, cfg.webhook_inbox))

    @router.get(BASE + "/conversations/{conversa}/labels")
    async def ler_rotulos(conta: int, conversa: int, request: Request) -> Response:
        _, falha = await chamada(request)
        if falha is not None:
            return falha
        return JSONResponse({"payload": rotulos.get(conversa, [])})

    @router.post(BASE + "/conversations/{conversa}/labels")
    async def gravar_rotulos(conta: int, conversa: int, request: Request) -> Response:
        corpo, falha = await chamada(request)
        if falha is not None:
            return falha
        rotulos[conversa] = [str(r) for r in corpo.get("labels", [])]
        return JSONResponse({"payload": rotulos[conversa]})

    return router
