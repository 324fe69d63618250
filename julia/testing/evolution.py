"""Fake Evolution API v2: sendText and sendTemplate (recording every call, for exactly-once checks),
connectionState and fetchInstances, with settable latency and the fault modes of ConfigEvolution; and the
inbound `messages.upsert` webhook body Evolution posts to julia.

sendTemplate answers as Evolution 2.3.6 does (src/api/integrations/channel/meta/whatsapp.business.service.ts,
docs/integrations.md): on a Cloud API instance a 201 with the message, or Meta's error object as the body of
a 201 without `key` (132001 unknown template, 132000 parameter count, 131030 number not allowed, or the
code set in `falha_modelo`); on a Baileys instance the 500 of its "Method not available" error."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from julia.templates import TEMPLATES
from julia.testing.estado import ConfigEvolution, Envio, Estado


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


INTEGRACOES = {"baileys": "WHATSAPP-BAILEYS", "cloud-api": "WHATSAPP-BUSINESS"}
# Meta's texts for the codes the fake answers (as Meta words them; `details` as Meta's docs quote them).
ERROS_META = {
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131030: (
        "Recipient phone number not in allowed list",
        "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try "
        "again.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to "
        "this number.",
    ),
    132000: (
        "Number of parameters does not match the expected number of params",
        "body: number of localizable_params does not match the expected number of params",
    ),
    132001: ("Template name does not exist in the translation", "template name does not exist in pt_BR"),
}


def erro_meta(codigo: int) -> dict[str, Any]:
    """Meta's inner `error` object, which Evolution returns as the body of a 201 (its `post()` catches the
    axios error and returns `e.response.data.error`; the send path then returns it unchanged)."""
    mensagem, detalhes = ERROS_META.get(codigo, ("Unknown error", "unknown error"))
    return {
        "message": f"(#{codigo}) {mensagem}",
        "type": "OAuthException",
        "code": codigo,
        "error_data": {"messaging_product": "whatsapp", "details": detalhes},
        "fbtrace_id": "AFakeTraceId",
    }


def _recusa_do_modelo(cfg: ConfigEvolution, numero: str, nome: str, parametros: list[str]) -> int | None:
    aprovados = cfg.modelos_aprovados if cfg.modelos_aprovados is not None else list(TEMPLATES)
    if nome not in aprovados:
        return 132001
    if nome in TEMPLATES and len(parametros) != len(TEMPLATES[nome].parameters):
        return 132000
    if cfg.permitidos is not None and numero not in cfg.permitidos:
        return 131030
    return None


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)

    @router.post("/message/sendText/{instancia}")
    async def send_text(instancia: str, request: Request) -> Response:
        corpo = await request.json()
        numero, texto = str(corpo["number"]), str(corpo["text"])
        cfg = estado.config.evolution
        # `delay`: Evolution shows 'typing...' that long before sending, and answers after it.
        await asyncio.sleep(cfg.latencia.amostra_s(rng) + float(corpo.get("delay") or 0) / 1000.0)
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

    @router.post("/message/sendTemplate/{instancia}")
    async def send_template(instancia: str, request: Request) -> Response:
        corpo = await request.json()
        cfg = estado.config.evolution
        await asyncio.sleep(cfg.latencia.amostra_s(rng))
        faltam = [c for c in ("name", "language") if not isinstance(corpo.get(c), str)]
        if faltam:  # templateMessageSchema's `required`
            mensagens = [f"{c} is required" for c in faltam]
            return JSONResponse(
                {"status": 400, "error": "Bad Request", "response": {"message": mensagens}}, status_code=400
            )
        if cfg.integracao != "cloud-api":
            erro = {"message": "Method not available in the Baileys service"}
            return JSONResponse(
                {"status": 500, "error": "Internal Server Error", "response": erro}, status_code=500
            )
        numero, nome = str(corpo.get("number", "")), corpo["name"]
        parametros = [
            str(p.get("text", ""))
            for c in corpo.get("components") or []
            if c.get("type") == "body"
            for p in c.get("parameters") or []
        ]
        agora = time.time()
        codigo = _recusa_do_modelo(cfg, numero, nome, parametros)
        if codigo is None and cfg.falha_modelo is not None and rng.random() < cfg.fracao_falha:
            codigo = cfg.falha_modelo
        texto = f"▶️{nome}◀️"  # what Evolution stores as the message's text
        if codigo is not None:
            estado.registro.enviadas.append(
                Envio(numero, texto, agora, codigo, None, nome, tuple(parametros))
            )
            return JSONResponse(erro_meta(codigo), status_code=201)
        msg_id = f"wamid.FALSO{next(ids)}"
        estado.registro.enviadas.append(Envio(numero, texto, agora, 201, msg_id, nome, tuple(parametros)))
        if cfg.imprimir:
            print(f"[fake evolution] sendTemplate {nome} to {numero}: {parametros}", flush=True)
        enviada = {**mensagem_enviada(numero, texto, msg_id, instancia), "source": "unknown"}
        return JSONResponse(enviada, status_code=201)

    @router.get("/instance/fetchInstances")
    async def instancias(instanceName: str = "julia") -> Response:
        # Every name asked for is an instance of the fake (sendText takes any in its path too).
        nome = instanceName
        instancia = {
            "id": "00000000-0000-4000-8000-000000000001",
            "name": nome,
            "connectionStatus": "open",
            "ownerJid": "5511988887777@s.whatsapp.net",
            "profileName": "Júlia",
            "integration": INTEGRACOES[estado.config.evolution.integracao],
            "number": "5511988887777",
        }
        return JSONResponse([instancia])

    @router.get("/chatwoot/find/{instancia}")
    async def chatwoot_find(instancia: str, request: Request) -> dict[str, Any]:
        servidor = str(request.base_url).rstrip("/")
        return chatwoot_da_instancia(instancia, estado.config.evolution.chatwoot, servidor)

    @router.get("/instance/connectionState/{instancia}")
    async def estado_conexao(instancia: str) -> dict[str, Any]:
        return {"instance": {"instanceName": instancia, "state": "open"}}

    return router
