"""The audit of /admin writes: each write route runs inside `auditar(...)`, which records who, what and the
row before in admin_auditoria before the write, and the answer and the row after once it is known
(julia/data/admin_auditoria.py; migration 0013 says why a write is recorded before it runs).

Who: ADMIN_TOKEN is one shared secret, so the person is whoever the `X-Operador` header names (free text,
up to MAX_OPERADOR characters; "anônimo" without it) and where the request came from. A write that fails
is recorded too, with its 4xx; one the audit cannot record does not run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import HTTPException, Request

from julia.data.admin_auditoria import Tabela, abrir_auditoria, fechar_auditoria

MAX_OPERADOR = 100
SEM_OPERADOR = "anônimo"


@dataclass
class Registro:
    """What the route sets once the write is done: the row after, and its status when not 200."""

    depois: Mapping[str, Any] | None = None
    status: int = 200


def _operador(request: Request) -> str:
    declarado = " ".join(request.headers.get("x-operador", "").split())[:MAX_OPERADOR]
    return declarado or SEM_OPERADOR


@contextlib.asynccontextmanager
async def auditar(
    pool: asyncpg.Pool,
    request: Request,
    pedido: Mapping[str, Any] | None,
    *,
    tabela: Tabela | None = None,
    alvo_id: int | None = None,
    alvo: str | None = None,
) -> AsyncIterator[Registro]:
    route = request.scope.get("route")
    auditoria_id = await abrir_auditoria(
        pool,
        operador=_operador(request),
        origem=request.client.host if request.client else None,
        acao=f"{request.method} {getattr(route, 'path', request.url.path)}",
        alvo=alvo if alvo is not None else (str(alvo_id) if alvo_id is not None else None),
        pedido=pedido,
        tabela=tabela,
        alvo_id=alvo_id,
    )
    registro = Registro()
    try:
        yield registro
    except HTTPException as exc:  # refused (404, 409, 422): recorded as such, nothing after
        await fechar_auditoria(pool, auditoria_id, exc.status_code, None)
        raise
    await fechar_auditoria(pool, auditoria_id, registro.status, registro.depois)
