"""Fake Evolution API v2: sendText and sendTemplate (recording every call, for exactly-once checks),
connectionState and fetchInstances, with settable latency and the fault modes of ConfigEvolution; the
inbound `messages.upsert` webhook body Evolution posts to julia; and, with `webhook_url` set, Evolution's
own webhooks to julia: the `messages.update` receipts of every accepted send (Baileys' or the Cloud API's,
delivered, read or failed, repeated or out of order as configured) and `connection.update` when
`POST /_controle/evolution/conexao` changes the connection (while it is not `open`, sendText answers
what Evolution answers then: 400 "Error: Connection Closed").

On a Cloud API instance sendText to a number in `fora_das_24h` answers Meta's 131047 as sendTemplate's
refusals below.

sendTemplate answers as Evolution 2.3.6 does (src/api/integrations/channel/meta/whatsapp.business.service.ts,
docs/integrations.md): on a Cloud API instance a 201 with the message, or Meta's error object as the body of
a 201 without `key` (132001 unknown template, 132000 parameter count, 131030 number not allowed, or the
code set in `falha_modelo`); on a Baileys instance the 500 of its "Method not available" error.

Receipts' bodies as Evolution 2.3.6 builds them (`messages.update` in whatsapp.baileys.service.ts and, for
the Cloud API, whatsapp.business.service.ts, which drops Meta's error codes). Posting is Evolution's,
simplified: a 5xx or a refused connection is tried again a few times, 0.2 s apart (Evolution backs off
from 5 s, over up to 10 tries); a 4xx is never retried."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from julia.templates import TEMPLATES
from julia.testing.state import ConfigEvolution, Receipt, Send, State

WEBHOOK_ATTEMPTS = 5
WEBHOOK_INTERVAL_S = 0.2


def message_sent(numero: str, texto: str, msg_id: str, instancia: str) -> dict[str, Any]:
    """Evolution v2's 201 body for sendText: the message object it created."""
    return {
        "key": {"remoteJid": f"{numero}@s.whatsapp.net", "fromMe": True, "id": msg_id},
        "status": "PENDING",
        "message": {"conversation": texto},
        "messageType": "conversation",
        "messageTimestamp": int(time.time()),
        "instanceId": instancia,
    }


def message_received(
    texto: str,
    *,
    numero: str,
    msg_id: str,
    from_me: bool = False,
    jid: str | None = None,
    nome: str = "Dra. Ana",
    stamp: int | None = None,
    server_url: str = "http://evolution",
    destination: str = "http://julia/webhooks/evolution",
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
            "messageTimestamp": int(time.time()) if stamp is None else stamp,
            "instanceId": "uuid",
            "source": "android",
        },
        "destination": destination,
        "date_time": "2026-11-24T10:00:00.000Z",
        "sender": "5511988887777@s.whatsapp.net",
        "server_url": server_url,
        "apikey": apikey,
    }


def chatwoot_of_instance(instancia: str, on: bool, server_url: str) -> dict[str, Any]:
    """GET /chatwoot/find/{instance}: the instance's Chatwoot settings, or, never set, the controller's
    empty answer (chatwoot.controller.ts findChatwoot), each with the webhook URL Evolution serves."""
    webhook = f"{server_url}/chatwoot/webhook/{instancia}"
    if not on:
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


INTEGRATIONS = {"baileys": "WHATSAPP-BAILEYS", "cloud-api": "WHATSAPP-BUSINESS"}
# Meta's texts for the codes the fake answers (as Meta words them; `details` as Meta's docs quote them).
META_ERRORS = {
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


def meta_error(code: int) -> dict[str, Any]:
    """Meta's inner `error` object, which Evolution returns as the body of a 201 (its `post()` catches the
    axios error and returns `e.response.data.error`; the send path then returns it unchanged)."""
    message, details = META_ERRORS.get(code, ("Unknown error", "unknown error"))
    return {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AFakeTraceId",
    }


def _model_refusal(cfg: ConfigEvolution, numero: str, nome: str, parametros: list[str]) -> int | None:
    approved = cfg.modelos_aprovados if cfg.modelos_aprovados is not None else list(TEMPLATES)
    if nome not in approved:
        return 132001
    if nome in TEMPLATES and len(parametros) != len(TEMPLATES[nome].parameters):
        return 132000
    if cfg.permitidos is not None and numero not in cfg.permitidos:
        return 131030
    return None


def _envelope(evento: str, data: dict[str, Any], instancia: str, destination: str | None) -> dict[str, Any]:
    return {
        "event": evento,
        "instance": instancia,
        "data": data,
        "destination": destination,
        "date_time": "2026-11-24T10:00:00.000Z",
        "sender": "5511988887777@s.whatsapp.net",
        "server_url": "http://evolution",
        "apikey": None,
    }


def whatsapp_receipt(
    msg_id: str,
    numero: str,
    status: str,
    *,
    integracao: str = "baileys",
    instancia: str = "julia",
    destination: str | None = None,
) -> dict[str, Any]:
    """Evolution's `messages.update` for one receipt of the message `msg_id` (sendText's key.id) sent to
    `numero`: Baileys' (`fromMe` true) or the Cloud API's (`fromMe` false, `participant` set, no error)."""
    jid = f"{numero}@s.whatsapp.net"
    data: dict[str, Any] = {
        "messageId": f"cm{abs(hash((msg_id, status))) % 10**12:012d}",
        "keyId": msg_id,
        "remoteJid": jid,
        "fromMe": integracao == "baileys",
        "status": status,
        "instanceId": "uuid",
    }
    if integracao == "cloud-api":
        data["participant"] = jid
    return _envelope("messages.update", data, instancia, destination)


def whatsapp_connection(
    state: str, status_reason: int, *, instancia: str = "julia", destination: str | None = None
) -> dict[str, Any]:
    """Evolution's `connection.update`: `open` carries the number's profile, the others only the reason."""
    data: dict[str, Any] = {"instance": instancia, "state": state, "statusReason": status_reason}
    if state == "open":
        data |= {"wuid": "5511988887777@s.whatsapp.net", "profileName": "Júlia", "profilePictureUrl": None}
    return _envelope("connection.update", data, instancia, destination)


def send_statuses(cfg: ConfigEvolution, rng: random.Random) -> list[str]:
    """The receipts one accepted send gets, in the order they are posted."""
    cloud = cfg.integracao == "cloud-api"
    if rng.random() < cfg.fracao_falha_entrega:
        statuses = ["SENT", "FAILED"] if cloud else ["ERROR"]
    else:
        statuses = ["SENT", "DELIVERED"] if cloud else ["SERVER_ACK", "DELIVERY_ACK"]
        if rng.random() < cfg.fracao_lida:
            statuses.append("READ")
    if cfg.recibos_invertidos:
        statuses.reverse()
    if cfg.recibos_repetidos:
        statuses = [s for s in statuses for _ in (1, 2)]
    return statuses


class Connection(BaseModel):
    state: str = "close"
    statusReason: int = 401  # Evolution's field name


class Webhooks:
    """Evolution's posts to julia, in the background of the request that caused them."""

    def __init__(self, estado: State) -> None:
        self._state = estado
        self._tasks: set[asyncio.Task[None]] = set()
        # One client for every post: httpx builds an SSL context per client (about 40 ms of CPU with the
        # event loop blocked, julia/testing/control.py), which a campaign's receipts paid hundreds of
        # times, and sendText timed out behind them. Made on first use, inside the server's event loop.
        self._http: httpx.AsyncClient | None = None

    def schedule(self, bodies: Sequence[tuple[str | None, dict[str, Any]]], delay_s: float) -> None:
        """Post the bodies one after another (each `(msg_id or None, body)`), after `delay_s`."""
        task = asyncio.create_task(self._post(bodies, delay_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(self, corpo: dict[str, Any]) -> int | None:
        """Post one body now; julia's status (None: never answered)."""
        cfg = self._state.config.evolution
        if cfg.webhook_url is None:
            return None
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        for _ in range(WEBHOOK_ATTEMPTS):
            try:
                resposta = await self._http.post(cfg.webhook_url, json=corpo, headers=cfg.webhook_headers)
            except httpx.TransportError:
                await asyncio.sleep(WEBHOOK_INTERVAL_S)
                continue
            if resposta.status_code < 500:
                return resposta.status_code
            await asyncio.sleep(WEBHOOK_INTERVAL_S)
        return None

    async def _post(self, bodies: Sequence[tuple[str | None, dict[str, Any]]], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        for msg_id, corpo in bodies:
            resposta = await self.post(corpo)
            if msg_id is not None:
                self._state.registro.recibos.append(Receipt(msg_id, corpo["data"]["status"], resposta))


def routes(estado: State, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)
    webhooks = Webhooks(estado)

    @router.post("/message/sendText/{instancia}")
    async def send_text(instancia: str, request: Request) -> Response:
        corpo = await request.json()
        numero, texto = str(corpo["number"]), str(corpo["text"])
        cfg = estado.config.evolution
        # `delay`: Evolution shows 'typing...' that long before sending, and answers after it.
        await asyncio.sleep(cfg.latencia.sample_s(rng) + float(corpo.get("delay") or 0) / 1000.0)
        falha = cfg.falha if cfg.falha and rng.random() < cfg.fracao_falha else None
        now = time.time()
        if falha in ("500", "503"):
            estado.registro.enviadas.append(Send(numero, texto, now, int(falha), None))
            return JSONResponse(
                {"status": int(falha), "error": "Internal Server Error", "response": {"message": ["falso"]}},
                status_code=int(falha),
            )
        if (
            estado.conexao != "open"
        ):  # Baileys throws, Evolution answers BadRequestException(error.toString())
            estado.registro.enviadas.append(Send(numero, texto, now, 400, None))
            return JSONResponse(
                {
                    "status": 400,
                    "error": "Bad Request",
                    "response": {"message": ["Error: Connection Closed"]},
                },
                status_code=400,
            )
        if cfg.integracao == "cloud-api" and cfg.fora_das_24h is not None and numero in cfg.fora_das_24h:
            # Meta's refusal of free text outside the customer-service window, in the body of a 201
            # (Evolution's business service returns Meta's error object unchanged).
            estado.registro.enviadas.append(Send(numero, texto, now, 131047, None))
            return JSONResponse(meta_error(131047), status_code=201)
        if falha == "400":
            estado.registro.enviadas.append(Send(numero, texto, now, 400, None))
            absent = [{"jid": f"{numero}@s.whatsapp.net", "exists": False, "number": numero}]
            return JSONResponse(
                {"status": 400, "error": "Bad Request", "response": {"message": absent}}, status_code=400
            )
        msg_id = f"3EB0FALSO{next(ids)}"
        # Recorded before the slow answer: WhatsApp has the message whether or not the caller waits.
        estado.registro.enviadas.append(Send(numero, texto, now, 201, msg_id))
        if cfg.imprimir:
            print(f"[fake evolution] sendText to {numero}: {texto}", flush=True)
        if cfg.webhook_url is not None:
            recibos = [
                (
                    msg_id,
                    whatsapp_receipt(msg_id, numero, status, integracao=cfg.integracao, instancia=instancia),
                )
                for status in send_statuses(cfg, rng)
            ]
            webhooks.schedule(recibos, cfg.recibos_atraso_ms / 1000)
        if falha == "lento":
            await asyncio.sleep(cfg.lento_ms / 1000.0)
        return JSONResponse(message_sent(numero, texto, msg_id, instancia), status_code=201)

    @router.post("/message/sendTemplate/{instancia}")
    async def send_template(instancia: str, request: Request) -> Response:
        corpo = await request.json()
        cfg = estado.config.evolution
        await asyncio.sleep(cfg.latencia.sample_s(rng))
        missing_ones = [c for c in ("name", "language") if not isinstance(corpo.get(c), str)]
        if missing_ones:  # templateMessageSchema's `required`
            messages = [f"{c} is required" for c in missing_ones]
            return JSONResponse(
                {"status": 400, "error": "Bad Request", "response": {"message": messages}}, status_code=400
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
        now = time.time()
        code = _model_refusal(cfg, numero, nome, parametros)
        if code is None and cfg.falha_modelo is not None and rng.random() < cfg.fracao_falha:
            code = cfg.falha_modelo
        texto = f"▶️{nome}◀️"  # what Evolution stores as the message's text
        if code is not None:
            estado.registro.enviadas.append(Send(numero, texto, now, code, None, nome, tuple(parametros)))
            return JSONResponse(meta_error(code), status_code=201)
        msg_id = f"wamid.FALSO{next(ids)}"
        estado.registro.enviadas.append(Send(numero, texto, now, 201, msg_id, nome, tuple(parametros)))
        if cfg.imprimir:
            print(f"[fake evolution] sendTemplate {nome} to {numero}: {parametros}", flush=True)
        sent_one = {**message_sent(numero, texto, msg_id, instancia), "source": "unknown"}
        return JSONResponse(sent_one, status_code=201)

    @router.get("/instance/fetchInstances")
    async def instances(instanceName: str = "julia") -> Response:
        # Every name asked for is an instance of the fake (sendText takes any in its path too).
        nome = instanceName
        instancia = {
            "id": "00000000-0000-4000-8000-000000000001",
            "name": nome,
            "connectionStatus": "open",
            "ownerJid": "5511988887777@s.whatsapp.net",
            "profileName": "Júlia",
            "integration": INTEGRATIONS[estado.config.evolution.integracao],
            "number": "5511988887777",
        }
        return JSONResponse([instancia])

    @router.get("/chatwoot/find/{instancia}")
    async def chatwoot_find(instancia: str, request: Request) -> dict[str, Any]:
        server = str(request.base_url).rstrip("/")
        return chatwoot_of_instance(instancia, estado.config.evolution.chatwoot, server)

    @router.get("/instance/connectionState/{instancia}")
    async def connection_state(instancia: str) -> dict[str, Any]:
        return {"instance": {"instanceName": instancia, "state": estado.conexao}}

    @router.post("/_controle/evolution/conexao")
    async def change_connection(conexao: Connection) -> dict[str, Any]:
        """The connection changes now (sendText follows at once) and julia is told, as Evolution tells it;
        answers julia's status (None: no webhook_url, or julia never answered)."""
        estado.conexao = conexao.state
        corpo = whatsapp_connection(conexao.state, conexao.statusReason)
        return {"state": conexao.state, "julia": await webhooks.post(corpo)}

    return router
