"""Fake Chatwoot REST (the calls julia makes: contacts, conversations, messages, labels, profile, and the
contact's deletion of an LGPD erasure)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from julia.testing.estado import Estado

BASE = "/api/v1/accounts/{conta}"


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)
    rotulos: dict[int, list[str]] = {}
    contatos: dict[str, int] = {}

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
        _, falha = await chamada(request)
        if falha is not None:
            return falha
        return JSONResponse({"id": next(ids), "status": "open", "inbox_id": 1})

    @router.post(BASE + "/conversations/{conversa}/messages")
    async def criar_mensagem(conta: int, conversa: int, request: Request) -> Response:
        corpo, falha = await chamada(request)
        if falha is not None:
            return falha
        tipo = {"incoming": 0, "outgoing": 1}.get(str(corpo.get("message_type")), 1)
        return JSONResponse(
            {
                "id": next(ids),
                "content": corpo.get("content"),
                "message_type": tipo,  # an integer in the REST reply (a string in webhooks)
                "private": bool(corpo.get("private")),
                "created_at": int(time.time()),
                "conversation_id": conversa,
            }
        )

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
