"""Fake Evolution API v2: sendText (recording every call, for exactly-once checks) and
connectionState, with settable latency and the fault modes of ConfigEvolution; and the inbound
`messages.upsert` webhook body Evolution posts to julia."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from julia.testing.estado import Envio, Estado


def mensagem_enviada(numero: str, texto: str, msg_id: str, instancia: str) -> dict[str, Any]:
    """Evolution v2's 201 body for sendText: the message object it created."""
    return {
        "key": {"remoteJid": f"{numero}@s.whatsapp.net", "fromMe": True, "id": msg_id},
        "status": "PENDING",
        "message": {"conversation": texto},
        "messageType": "conversation",
        "messageTimestamp": int(time.time()),
        "instanceId": instancia,
    }


def mensagem_recebida(
    texto: str,
    *,
    numero: str,
    msg_id: str,
    from_me: bool = False,
    jid: str | None = None,
    nome: str = "Dra. Ana",
    carimbo: int | None = None,
    server_url: str = "http://evolution",
    destino: str = "http://julia/webhooks/evolution",
    apikey: str | None = None,
) -> dict[str, Any]:
    """Evolution v2's `messages.upsert` webhook for one text message from `numero` (digits, no +), as it
    posts it (wire format: docs/integrations.md); `jid` replaces the sender's (a group, a broadcast);
    `carimbo` (messageTimestamp) is now unless given: an older one is a late message (MENSAGEM_ANTIGA_S)."""
    return {
        "event": "messages.upsert",
        "instance": "julia",
        "data": {
            "key": {"remoteJid": jid or f"{numero}@s.whatsapp.net", "fromMe": from_me, "id": msg_id},
            "pushName": nome,
            "status": "DELIVERY_ACK",
            "message": {"conversation": texto},
            "contextInfo": None,
            "messageType": "conversation",
            "messageTimestamp": int(time.time()) if carimbo is None else carimbo,
            "instanceId": "uuid",
            "source": "android",
        },
        "destination": destino,
        "date_time": "2026-11-24T10:00:00.000Z",
        "sender": "5511988887777@s.whatsapp.net",
        "server_url": server_url,
        "apikey": apikey,
    }


def chatwoot_da_instancia(instancia: str, ligado: bool, server_url: str) -> dict[str, Any]:
    """GET /chatwoot/find/{instance}: the instance's Chatwoot settings, or, never set, the controller's
    empty answer (chatwoot.controller.ts findChatwoot), each with the webhook URL Evolution serves."""
    webhook = f"{server_url}/chatwoot/webhook/{instancia}"
    if not ligado:
        return {
            "enabled": False,
            "url": "",
            "accountId": "",
            "token": "",
            "signMsg": False,
            "nameInbox": "",
            "webhook_url": "",
        }
    return {
        "enabled": True,
        "accountId": "1",
        "token": "token-do-chatwoot",
        "url": "https://chatwoot.example.com",
        "nameInbox": instancia,
        "signMsg": True,
        "signDelimiter": None,
        "reopenConversation": True,
        "conversationPending": False,
        "mergeBrazilContacts": True,
        "importContacts": False,
        "importMessages": False,
        "daysLimitImportMessages": 0,
        "organization": None,
        "logo": None,
        "ignoreJids": [],
        "webhook_url": webhook,
    }


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)

    @router.post("/message/sendText/{instancia}")
    async def send_text(instancia: str, request: Request) -> Response:
        corpo = await request.json()
        numero, texto = str(corpo["number"]), str(corpo["text"])
        cfg = estado.config.evolution
        await asyncio.sleep(cfg.latencia.amostra_s(rng))
        falha = cfg.falha if cfg.falha and rng.random() < cfg.fracao_falha else None
        agora = time.time()
        if falha in ("500", "503"):
            estado.registro.enviadas.append(Envio(numero, texto, agora, int(falha), None))
            return JSONResponse(
                {"status": int(falha), "error": "Internal Server Error", "response": {"message": ["falso"]}},
                status_code=int(falha),
            )
        if falha == "400":
            estado.registro.enviadas.append(Envio(numero, texto, agora, 400, None))
            ausente = [{"jid": f"{numero}@s.whatsapp.net", "exists": False, "number": numero}]
            return JSONResponse(
                {"status": 400, "error": "Bad Request", "response": {"message": ausente}}, status_code=400
            )
        msg_id = f"3EB0FALSO{next(ids)}"
        # Recorded before the slow answer: WhatsApp has the message whether or not the caller waits.
        estado.registro.enviadas.append(Envio(numero, texto, agora, 201, msg_id))
        if cfg.imprimir:
            print(f"[fake evolution] sendText to {numero}: {texto}", flush=True)
        if falha == "lento":
            await asyncio.sleep(cfg.lento_ms / 1000.0)
        return JSONResponse(mensagem_enviada(numero, texto, msg_id, instancia), status_code=201)

    @router.get("/chatwoot/find/{instancia}")
    async def chatwoot_find(instancia: str, request: Request) -> dict[str, Any]:
        servidor = str(request.base_url).rstrip("/")
        return chatwoot_da_instancia(instancia, estado.config.evolution.chatwoot, servidor)

    @router.get("/instance/connectionState/{instancia}")
    async def estado_conexao(instancia: str) -> dict[str, Any]:
        return {"instance": {"instanceName": instancia, "state": "open"}}

    return router
