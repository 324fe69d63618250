"""Fake Anthropic Messages API, the one in julia: the reply bodies in the real wire format (`mensagem`,
`erro`), the reply the fakes give (`responder`), and two ways to serve it:

- `rotas`: `POST /v1/messages` on the fake server (julia.testing.app), with lognormal latency, an rpm
  limit answered with 429 + `retry-after`, and the fault modes of ConfigClaude;
- `Transporte`: an in-process httpx2 transport (anthropic 2.x's HTTP library, which respx does not
  patch) for benchmarks: the SDK still builds the request and parses the reply, so its cost stays
  measured; only the network and the model's time are replaced, by `asyncio.sleep(latency_s)`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
from fastapi import APIRouter, Request, Response

from julia.testing.estado import Estado

HANG_MAX_S = 3600.0  # "hang" holds a request until the mode changes or this long: the client times out

# What a short uncached exchange reports; callers measuring a cached prompt pass their own.
USO: Mapping[str, int] = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}

_ERROS = {
    "429": (429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
}

_PEDE_VAGA = re.compile(r"\bvaga\s+(\d+)\b", re.IGNORECASE)

Blocos = list[dict[str, Any]]
Responder = Callable[[dict[str, Any], int], tuple[Blocos, str]]


def mensagem(
    modelo: str | None, blocos: Blocos, parar: str, msg_id: str, uso: Mapping[str, int] = USO
) -> dict[str, Any]:
    """A 200 body of `POST /v1/messages`: content blocks and the stop reason (end_turn, tool_use)."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": modelo,
        "content": blocos,
        "stop_reason": parar,
        "stop_sequence": None,
        "usage": dict(uso),
    }


def texto(conteudo: str) -> dict[str, Any]:
    return {"type": "text", "text": conteudo}


def ferramenta(uso_id: str, nome: str, entrada: dict[str, Any]) -> dict[str, Any]:
    """A `tool_use` block: Claude asking julia to run the tool `nome` with `entrada`."""
    return {"type": "tool_use", "id": uso_id, "name": nome, "input": entrada}


def erro(tipo: str, motivo: str, pedido: str) -> dict[str, Any]:
    """An error body (rate_limit_error, overloaded_error, api_error...), as every non-2xx carries."""
    return {"type": "error", "error": {"type": tipo, "message": motivo}, "request_id": pedido}


def responder(corpo: dict[str, Any], n: int, *, eco: bool = True) -> tuple[Blocos, str]:
    """The fakes' reply. A doctor naming "vaga 12" gets a `reservar_vaga` tool_use when tools are
    offered (and allowed), so `julia dev` shows a reservation; tool results are answered with a text that
    quotes them; anything else is echoed (`eco`, so a test can match reply to message) or greeted."""
    mensagens = corpo.get("messages") or [{}]
    ultima = mensagens[-1].get("content", "")
    if isinstance(ultima, list):  # content blocks: the tool_result blocks of the previous round, or text
        resultados = [str(b.get("content")) for b in ultima if b.get("type") == "tool_result"]
        if resultados:
            return [texto(f"(Júlia de teste) Resultado: {'; '.join(resultados)}")], "end_turn"
        ultima = " ".join(str(b.get("text", "")) for b in ultima if isinstance(b, dict))
    pedida = _PEDE_VAGA.search(ultima)
    nomes = {t.get("name") for t in corpo.get("tools", [])}
    if pedida and "reservar_vaga" in nomes and corpo.get("tool_choice", {}).get("type") != "none":
        return [ferramenta(f"toolu_falso{n}", "reservar_vaga", {"vaga_id": int(pedida.group(1))})], "tool_use"
    return [texto(f"(Júlia de teste) Recebi: {ultima}" if eco else "Olá! Sou a Júlia.")], "end_turn"


def _resposta(
    status: int, corpo: dict[str, Any], pedido: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(corpo),
        status_code=status,
        media_type="application/json",
        headers={"request-id": pedido, **(headers or {})},
    )


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
        reg.claude_ultimo = corpo
        if estado.balde is not None:
            espera = estado.balde.tirar()
            if espera > 0:
                reg.claude_429 += 1
                status, tipo, motivo = _ERROS["429"]
                return _resposta(
                    status, erro(tipo, motivo, pedido), pedido, {"retry-after": str(math.ceil(espera))}
                )
        cfg = estado.config.claude
        reg.claude_em_voo += 1
        reg.claude_pico_em_voo = max(reg.claude_pico_em_voo, reg.claude_em_voo)
        try:
            latencia = cfg.latencia.amostra_s(rng)
            reg.claude_latencias_s.append(latencia)
            await asyncio.sleep(latencia)
            falha = cfg.falha if cfg.falha and rng.random() < cfg.fracao_falha else None
            if falha == "hang":
                espera_total = 0.0
                while estado.config.claude.falha == "hang" and espera_total < HANG_MAX_S:
                    await asyncio.sleep(0.1)
                    espera_total += 0.1
            elif falha is not None:
                reg.claude_falhas += 1
                status, tipo, motivo = _ERROS[falha]
                return _resposta(status, erro(tipo, motivo, pedido), pedido)
            blocos, parar = responder(corpo, n, eco=cfg.eco)
            return _resposta(200, mensagem(corpo.get("model"), blocos, parar, f"msg_falso{n}"), pedido)
        finally:
            reg.claude_em_voo -= 1

    return router


class Transporte(httpx2.AsyncBaseTransport):
    """Anthropic in process, after `latency_s`: `responder(body, n)` gives the blocks and stop reason,
    reported with `uso`; `calls` counts the requests."""

    def __init__(
        self, latency_s: float, responder: Responder, *, uso: Mapping[str, int] = USO, prefixo: str = "falso"
    ) -> None:
        self.latency_s = latency_s
        self.calls = 0
        self._responder = responder
        self._uso = uso
        self._prefixo = prefixo
        self._ids = itertools.count(1)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        corpo = json.loads(await request.aread())
        self.calls += 1
        n = next(self._ids)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        blocos, parar = self._responder(corpo, n)
        resposta = mensagem(corpo["model"], blocos, parar, f"msg_{self._prefixo}{n}", self._uso)
        return httpx2.Response(
            200,
            headers={"content-type": "application/json", "request-id": f"req_{self._prefixo}"},
            content=json.dumps(resposta).encode(),
        )
