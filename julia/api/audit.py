"""The audit of /admin writes, the HTTP side: each write route runs inside `audited(...)`, which records
who, what and the row before, then the answer and the row after (julia/services/admin.py).

Who: ADMIN_TOKEN is one shared secret, so the person is whoever the `X-Operador` header names (free text,
up to MAX_OPERADOR characters; "anônimo" without it) and where the request came from. A write that fails
is recorded too, with its 4xx; one the audit cannot record does not run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from fastapi import HTTPException, Request

from julia.services import admin
from julia.services.admin import Outcome, Target

MAX_OPERATOR = 100
WITHOUT_OPERATOR = "anônimo"


def _operator(request: Request) -> str:
    declared = " ".join(request.headers.get("x-operador", "").split())[:MAX_OPERATOR]
    return declared or WITHOUT_OPERATOR


@contextlib.asynccontextmanager
async def audited(
    pool: asyncpg.Pool,
    request: Request,
    pedido: Mapping[str, Any] | None,
    target: Target | None = None,
) -> AsyncIterator[Outcome]:
    route = request.scope.get("route")
    recusa: HTTPException | None = None
    async with admin.audited(
        pool,
        operador=_operator(request),
        origem=request.client.host if request.client else None,
        acao=f"{request.method} {getattr(route, 'path', request.url.path)}",
        pedido=pedido,
        target=target or Target(),
    ) as outcome:
        try:
            yield outcome
        except HTTPException as exc:  # refused (404, 409, 422): recorded as such, nothing after
            outcome.status, outcome.after = exc.status_code, None
            recusa = exc
    if recusa is not None:
        raise recusa
