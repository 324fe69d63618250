"""Fake Anthropic Messages API, the one in julia: the reply bodies in the real wire format (`mensagem`,
`erro`), the reply the fakes give (`responder`), and two ways to serve it:

- `routes`: `POST /v1/messages` on the fake server (julia.testing.app), with lognormal latency, an rpm
  limit answered with 429 + `retry-after`, and the fault modes of ConfigClaude;
- `Transport`: an in-process httpx2 transport (anthropic 2.x's HTTP library, which respx does not
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

from julia.testing.state import State

HANG_MAX_S = 3600.0  # "hang" holds a request until the mode changes or this long: the client times out

# What a short uncached exchange reports; callers measuring a cached prompt pass their own.
USO: Mapping[str, int] = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}

_ERRORS = {
    "429": (429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    "529": (529, "overloaded_error", "Overloaded"),
    "500": (500, "api_error", "Internal server error"),
}

_ASKS_VAGA = re.compile(r"\bvaga\s+(\d+)\b", re.IGNORECASE)

Blocks = list[dict[str, Any]]
Replier = Callable[[dict[str, Any], int], tuple[Blocks, str]]


def message(
    modelo: str | None, blocks: Blocks, stop: str, msg_id: str, usage: Mapping[str, int] = USO
) -> dict[str, Any]:
    """A 200 body of `POST /v1/messages`: content blocks and the stop reason (end_turn, tool_use)."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": modelo,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(usage),
    }


def texto(conteudo: str) -> dict[str, Any]:
    return {"type": "text", "text": conteudo}


def ferramenta(uso_id: str, nome: str, entrada: dict[str, Any]) -> dict[str, Any]:
    """A `tool_use` block: Claude asking julia to run the tool `nome` with `entrada`."""
    return {"type": "tool_use", "id": uso_id, "name": nome, "input": entrada}


def erro(kind: str, motivo: str, pedido: str) -> dict[str, Any]:
    """An error body (rate_limit_error, overloaded_error, api_error...), as every non-2xx carries."""
    return {"type": "error", "error": {"type": kind, "message": motivo}, "request_id": pedido}


def reply(corpo: dict[str, Any], n: int, *, eco: bool = True) -> tuple[Blocks, str]:
    """The fakes' reply. A doctor naming "vaga 12" gets a `reservar_vaga` tool_use when tools are
    offered (and allowed), so `julia dev` shows a reservation; tool results are answered with a text that
    quotes them; anything else is echoed (`eco`, so a test can match reply to message) or greeted."""
    messages = corpo.get("messages") or [{}]
    last_one = messages[-1].get("content", "")
    if isinstance(last_one, list):  # content blocks: the tool_result blocks of the previous round, or text
        results = [str(b.get("content")) for b in last_one if b.get("type") == "tool_result"]
        if results:
            return [texto(f"(Júlia de teste) Resultado: {'; '.join(results)}")], "end_turn"
        last_one = " ".join(str(b.get("text", "")) for b in last_one if isinstance(b, dict))
    asked = _ASKS_VAGA.search(last_one)
    names = {t.get("name") for t in corpo.get("tools", [])}
    if asked and "reservar_vaga" in names and corpo.get("tool_choice", {}).get("type") != "none":
        return [ferramenta(f"toolu_falso{n}", "reservar_vaga", {"vaga_id": int(asked.group(1))})], "tool_use"
    return [texto(f"(Júlia de teste) Recebi: {last_one}" if eco else "Olá! Sou a Júlia.")], "end_turn"


def _reply_body(
    status: int, corpo: dict[str, Any], pedido: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(corpo),
        status_code=status,
        media_type="application/json",
        headers={"request-id": pedido, **(headers or {})},
    )


def routes(estado: State, rng: random.Random) -> APIRouter:
    router = APIRouter()
    ids = itertools.count(1)

    @router.post("/v1/messages")
    async def messages(request: Request) -> Response:
        corpo = await request.json()
        reg = estado.registro
        n = next(ids)
        pedido = f"req_falso{n}"
        reg.claude_pedidos += 1
        reg.claude_ultimo = corpo
        if estado.balde is not None:
            wait = estado.balde.take()
            if wait > 0:
                reg.claude_429 += 1
                status, kind, motivo = _ERRORS["429"]
                return _reply_body(
                    status, erro(kind, motivo, pedido), pedido, {"retry-after": str(math.ceil(wait))}
                )
        cfg = estado.config.claude
        reg.claude_em_voo += 1
        reg.claude_pico_em_voo = max(reg.claude_pico_em_voo, reg.claude_em_voo)
        try:
            latencia = cfg.latencia.sample_s(rng)
            reg.claude_latencias_s.append(latencia)
            await asyncio.sleep(latencia)
            falha = cfg.falha if cfg.falha and rng.random() < cfg.fracao_falha else None
            if falha == "hang":
                total_wait = 0.0
                while estado.config.claude.falha == "hang" and total_wait < HANG_MAX_S:
                    await asyncio.sleep(0.1)
                    total_wait += 0.1
            elif falha is not None:
                reg.claude_falhas += 1
                status, kind, motivo = _ERRORS[falha]
                return _reply_body(status, erro(kind, motivo, pedido), pedido)
            blocks, stop = reply(corpo, n, eco=cfg.eco)
            return _reply_body(200, message(corpo.get("model"), blocks, stop, f"msg_falso{n}"), pedido)
        finally:
            reg.claude_em_voo -= 1

    return router


class Transport(httpx2.AsyncBaseTransport):
    """Anthropic in process, after `latency_s`: `reply(body, n)` gives the blocks and stop reason,
    reported with `usage`; `calls` counts the requests."""

    def __init__(
        self, latency_s: float, reply: Replier, *, usage: Mapping[str, int] = USO, prefix: str = "falso"
    ) -> None:
        self.latency_s = latency_s
        self.calls = 0
        self._reply = reply
        self._uso = usage
        self._prefix = prefix
        self._ids = itertools.count(1)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        corpo = json.loads(await request.aread())
        self.calls += 1
        n = next(self._ids)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        blocks, stop = self._reply(corpo, n)
        resposta = message(corpo["model"], blocks, stop, f"msg_{self._prefix}{n}", self._uso)
        return httpx2.Response(
            200,
            headers={"content-type": "application/json", "request-id": f"req_{self._prefix}"},
            content=json.dumps(resposta).encode(),
        )
