"""Fake Evolution API v2: sendText (recording every call, for exactly-once checks) and
connectionState, with settable latency and the fault modes of ConfigEvolution; the inbound
`messages.upsert` webhook body Evolution posts to julia; and, with `webhook_url` set, Evolution's own
webhooks to julia: the `messages.update` receipts of every accepted send (Baileys' or the Cloud API's,
delivered, read or failed, repeated or out of order as configured) and `connection.update` when
`POST /_controle/evolution/conexao` changes the connection (while it is not `open`, sendText answers
what Evolution answers then: 400 "Error: Connection Closed").

Bodies as Evolution 2.3.6 builds them (docs/integrations.md; `messages.update` in
whatsapp.baileys.service.ts and, for the Cloud API, whatsapp.business.service.ts, which drops Meta's
error codes). Posting is Evolution's, simplified: a 5xx or a refused connection is tried again a few
times, 0.2 s apart (Evolution backs off from 5 s, over up to 10 tries); a 4xx is never retried."""

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

from julia.testing.estado import ConfigEvolution, Envio, Estado, Recibo

TENTATIVAS_WEBHOOK = 5
INTERVALO_WEBHOOK_S = 0.2


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


def _envelope(evento: str, data: dict[str, Any], instancia: str, destino: str | None) -> dict[str, Any]:
    return {
        "event": evento,
        "instance": instancia,
        "data": data,
        "destination": destino,
        "date_time": "2026-11-24T10:00:00.000Z",
        "sender": "5511988887777@s.whatsapp.net",
        "server_url": "http://evolution",
        "apikey": None,
    }


def recibo_whatsapp(
    msg_id: str,
    numero: str,
    status: str,
    *,
    integracao: str = "WHATSAPP-BAILEYS",
    instancia: str = "julia",
    destino: str | None = None,
) -> dict[str, Any]:
    """Evolution's `messages.update` for one receipt of the message `msg_id` (sendText's key.id) sent to
    `numero`: Baileys' (`fromMe` true) or the Cloud API's (`fromMe` false, `participant` set, no error)."""
    jid = f"{numero}@s.whatsapp.net"
    data: dict[str, Any] = {
        "messageId": f"cm{abs(hash((msg_id, status))) % 10**12:012d}",
        "keyId": msg_id,
        "remoteJid": jid,
        "fromMe": integracao == "WHATSAPP-BAILEYS",
        "status": status,
        "instanceId": "uuid",
    }
    if integracao == "WHATSAPP-BUSINESS":
        data["participant"] = jid
    return _envelope("messages.update", data, instancia, destino)


def conexao_whatsapp(
    state: str, status_reason: int, *, instancia: str = "julia", destino: str | None = None
) -> dict[str, Any]:
    """Evolution's `connection.update`: `open` carries the number's profile, the others only the reason."""
    data: dict[str, Any] = {"instance": instancia, "state": state, "statusReason": status_reason}
    if state == "open":
        data |= {"wuid": "5511988887777@s.whatsapp.net", "profileName": "Júlia", "profilePictureUrl": None}
    return _envelope("connection.update", data, instancia, destino)


def statuses_do_envio(cfg: ConfigEvolution, rng: random.Random) -> list[str]:
    """The receipts one accepted send gets, in the order they are posted."""
    cloud = cfg.integracao == "WHATSAPP-BUSINESS"
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


class Conexao(BaseModel):
    state: str = "close"
    statusReason: int = 401  # Evolution's field name


class Webhooks:
    """Evolution's posts to julia, in the background of the request that caused them."""

    def __init__(self, estado: Estado) -> None:
        self._estado = estado
        self._tarefas: set[asyncio.Task[None]] = set()
        # One client for every post: httpx builds an SSL context per client (about 40 ms of CPU with the
        # event loop blocked, julia/testing/controle.py), which a campaign's receipts paid hundreds of
        # times, and sendText timed out behind them. Made on first use, inside the server's event loop.
        self._http: httpx.AsyncClient | None = None

    def agendar(self, corpos: Sequence[tuple[str | None, dict[str, Any]]], atraso_s: float) -> None:
        """Post the bodies one after another (each `(msg_id or None, body)`), after `atraso_s`."""
        tarefa = asyncio.create_task(self._postar(corpos, atraso_s))
        self._tarefas.add(tarefa)
        tarefa.add_done_callback(self._tarefas.discard)

    async def postar(self, corpo: dict[str, Any]) -> int | None:
        """Post one body now; julia's status (None: never answered)."""
        cfg = self._estado.config.evolution
        if cfg.webhook_url is None:
            return None
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        for _ in range(TENTATIVAS_WEBHOOK):
            try:
                resposta = await self._http.post(cfg.webhook_url, json=corpo, headers=cfg.webhook_headers)
            except httpx.TransportError:
                await asyncio.sleep(INTERVALO_WEBHOOK_S)
                continue
            if resposta.status_code < 500:
                return resposta.status_code
            await asyncio.sleep(INTERVALO_WEBHOOK_S)
        return None

    async def _postar(self, corpos: Sequence[tuple[str | None, dict[str, Any]]], atraso_s: float) -> None:
        await asyncio.sleep(atraso_s)
        for msg_id, corpo in corpos:
            resposta = await self.postar(corpo)
            if msg_id is not None:
                self._estado.registro.recibos.append(Recibo(msg_id, corpo["data"]["status"], resposta))


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)
    webhooks = Webhooks(estado)

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
        if (
            estado.conexao != "open"
        ):  # Baileys throws, Evolution answers BadRequestException(error.toString())
            estado.registro.enviadas.append(Envio(numero, texto, agora, 400, None))
            return JSONResponse(
                {
                    "status": 400,
                    "error": "Bad Request",
                    "response": {"message": ["Error: Connection Closed"]},
                },
                status_code=400,
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
        if cfg.webhook_url is not None:
            recibos = [
                (
                    msg_id,
                    recibo_whatsapp(msg_id, numero, status, integracao=cfg.integracao, instancia=instancia),
                )
                for status in statuses_do_envio(cfg, rng)
            ]
            webhooks.agendar(recibos, cfg.recibos_atraso_ms / 1000)
        if falha == "lento":
            await asyncio.sleep(cfg.lento_ms / 1000.0)
        return JSONResponse(mensagem_enviada(numero, texto, msg_id, instancia), status_code=201)

    @router.get("/instance/connectionState/{instancia}")
    async def estado_conexao(instancia: str) -> dict[str, Any]:
        return {"instance": {"instanceName": instancia, "state": estado.conexao}}

    @router.post("/_controle/evolution/conexao")
    async def mudar_conexao(conexao: Conexao) -> dict[str, Any]:
        """The connection changes now (sendText follows at once) and julia is told, as Evolution tells it;
        answers julia's status (None: no webhook_url, or julia never answered)."""
        estado.conexao = conexao.state
        corpo = conexao_whatsapp(conexao.state, conexao.statusReason)
        return {"state": conexao.state, "julia": await webhooks.postar(corpo)}

    return router
