"""Fake Anthropic Messages API: `POST /v1/messages` in the real wire format, lognormal latency, an rpm
limit answered with 429 + `retry-after`, and the fault modes of ConfigClaude."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from typing import Any

from fastapi import APIRouter, Request, Response

from julia.testing.estado import Estado

HANG_MAX_S = 3600.0  # "hang" holds a request until the mode changes or this long: the client times out

_ERROS = {
    "429": (429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
}


def _erro(status: int, tipo: str, texto: str, pedido: str, headers: dict[str, str] | None = None) -> Response:
    corpo = {"type": "error", "error": {"type": tipo, "message": texto}, "request_id": pedido}
    return Response(
        json.dumps(corpo),
        status_code=status,
        media_type="application/json",
        headers={"request-id": pedido, **(headers or {})},
    )


def _mensagem(corpo: dict[str, Any], msg_id: str, eco: bool) -> dict[str, Any]:
    mensagens = corpo.get("messages") or [{}]
    ultima = mensagens[-1].get("content", "")
    if isinstance(ultima, list):  # content blocks: quote their text
        ultima = " ".join(str(b.get("text", "")) for b in ultima if isinstance(b, dict))
    texto = f"(Júlia de teste) Recebi: {ultima}" if eco else "Olá! Sou a Júlia."
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": corpo.get("model"),
        "content": [{"type": "text", "text": texto}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def rotas(estado: Estado, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)

    @router.post("/v1/messages")
    async def mensagens(request: Request) -> Response:
        corpo = await request.json()
        reg = estado.registro
        n = next(ids)
        pedido = f"req_falso{n}"
        reg.claude_pedidos += 1
        if estado.balde is not None:
            espera = estado.balde.tirar()
            if espera > 0:
                reg.claude_429 += 1
                status, tipo, texto = _ERROS["429"]
                return _erro(status, tipo, texto, pedido, {"retry-after": str(math.ceil(espera))})
        cfg = estado.config.claude
        reg.claude_em_voo += 1
        reg.claude_pico_em_voo = max(reg.claude_pico_em_voo, reg.claude_em_voo)
        try:
            await asyncio.sleep(cfg.latencia.amostra_s(rng))
            falha = cfg.falha if cfg.falha and rng.random() < cfg.fracao_falha else None
            if falha == "hang":
                espera_total = 0.0
                while estado.config.claude.falha == "hang" and espera_total < HANG_MAX_S:
                    await asyncio.sleep(0.1)
                    espera_total += 0.1
            elif falha is not None:
                reg.claude_falhas += 1
                status, tipo, texto = _ERROS[falha]
                return _erro(status, tipo, texto, pedido)
            return Response(
                json.dumps(_mensagem(corpo, f"msg_falso{n}", cfg.eco)),
                media_type="application/json",
                headers={"request-id": pedido},
            )
        finally:
            reg.claude_em_voo -= 1

    return router
