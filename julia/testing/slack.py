"""Fake Slack incoming webhook: a POST under /slack/ or /services/ (the real hooks.slack.com path) with a
JSON body carrying `text` records the text and answers `ok`; anything else is Slack's 400 invalid_payload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from julia.testing.state import State

_ERRORS = {"429": "rate_limited", "500": "rollup_error"}


def routes(estado: State) -> APIRouter:
    router = APIRouter()

    @router.post("/slack/{caminho:path}")
    @router.post("/services/{caminho:path}")
    async def webhook(caminho: str, request: Request) -> PlainTextResponse:
        try:
            corpo: Any = await request.json()
        except ValueError:
            corpo = None
        if not isinstance(corpo, dict) or not isinstance(corpo.get("text"), str):
            return PlainTextResponse("invalid_payload", status_code=400)
        falha = estado.config.slack.falha
        if falha is not None:
            headers = {"Retry-After": "1"} if falha == "429" else None
            return PlainTextResponse(_ERRORS[falha], status_code=int(falha), headers=headers)
        estado.registro.slack.append(corpo["text"])
        return PlainTextResponse("ok")

    return router
