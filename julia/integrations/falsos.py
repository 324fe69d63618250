"""Stand-ins for Evolution and Anthropic that speak their wire formats (Anthropic's tool use included),
for `julia dev` (a newcomer without keys) and the acceptance tests (respx cannot reach a subprocess).
Never used in production: `julia serve` and `julia worker` only talk to what their settings name."""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response


@dataclass
class Registro:
    """What the fakes received, in order: (number, text) per sendText, and each Claude request body."""

    enviadas: list[tuple[str, str]] = field(default_factory=list)
    pedidos_claude: list[dict[str, Any]] = field(default_factory=list)


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


_PEDE_VAGA = re.compile(r"\bvaga\s+(\d+)\b", re.IGNORECASE)


def _claude_falso(corpo: dict[str, Any], eco: bool, n: int) -> tuple[list[dict[str, Any]], str]:
    """(content blocks, stop_reason). A doctor naming "vaga 12" gets a `reservar_vaga` tool_use when
    tools are offered (and allowed), so `julia dev` shows a reservation; tool results are answered with
    a text that quotes them; anything else is echoed."""
    mensagens = corpo.get("messages") or [{"content": ""}]
    ultima = mensagens[-1]["content"]
    if isinstance(ultima, list):  # the tool_result blocks of the previous round
        resultados = "; ".join(str(b.get("content")) for b in ultima if b.get("type") == "tool_result")
        return [{"type": "text", "text": f"(Júlia de teste) Resultado: {resultados}"}], "end_turn"
    pedida = _PEDE_VAGA.search(ultima)
    nomes = {t.get("name") for t in corpo.get("tools", [])}
    if pedida and "reservar_vaga" in nomes and corpo.get("tool_choice", {}).get("type") != "none":
        chamada = {"vaga_id": int(pedida.group(1))}
        return [
            {"type": "tool_use", "id": f"toolu_fake{n}", "name": "reservar_vaga", "input": chamada}
        ], "tool_use"
    texto = f"(Júlia de teste) Recebi: {ultima}" if eco else "Olá! Sou a Júlia."
    return [{"type": "text", "text": texto}], "end_turn"


def criar_app(registro: Registro, *, eco: bool = True) -> FastAPI:
    """One app answering both services' paths: Evolution's /message/sendText/{instance} and
    /instance/connectionState/{instance}, and Anthropic's /v1/messages."""
    app = FastAPI(title="julia fakes")
    ids = itertools.count(1)

    @app.post("/message/sendText/{instancia}", status_code=201)
    async def send_text(instancia: str, request: Request) -> dict[str, Any]:
        corpo = await request.json()
        registro.enviadas.append((str(corpo["number"]), str(corpo["text"])))
        print(f"[fake evolution] sendText to {corpo['number']}: {corpo['text']}", flush=True)
        return mensagem_enviada(str(corpo["number"]), str(corpo["text"]), f"3EB0FAKE{next(ids)}", instancia)

    @app.get("/instance/connectionState/{instancia}")
    async def estado(instancia: str) -> dict[str, Any]:
        return {"instance": {"instanceName": instancia, "state": "open"}}

    @app.post("/v1/messages")
    async def mensagens(request: Request) -> Response:
        corpo = await request.json()
        registro.pedidos_claude.append(corpo)
        conteudo, parar = _claude_falso(corpo, eco, next(ids))
        resposta = {
            "id": f"msg_fake{next(ids)}",
            "type": "message",
            "role": "assistant",
            "model": corpo.get("model"),
            "content": conteudo,
            "stop_reason": parar,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return Response(
            json.dumps(resposta), media_type="application/json", headers={"request-id": "req_fake"}
        )

    return app
