"""Fake Slack incoming webhook: any POST under /slack/ records its text and answers `ok`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from julia.testing.estado import Estado

_ERROS = {"429": "rate_limited", "500": "rollup_error"}


def rotas(estado: Estado) -> APIRouter:
    router = APIRouter()

    @router.post("/slack/{caminho:path}")
    async def webhook(caminho: str, request: Request) -> PlainTextResponse:
        corpo = await request.json()
        falha = estado.config.slack.falha
        if falha is not None:
            headers = {"Retry-After": "1"} if falha == "429" else None
            return PlainTextResponse(_ERROS[falha], status_code=int(falha), headers=headers)
        estado.registro.slack.append(str(corpo.get("text", "")))
        return PlainTextResponse("ok")

    return router
