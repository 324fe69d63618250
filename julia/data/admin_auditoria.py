"""admin_auditoria: every /admin write, who, what, before and after (julia/sql/admin_auditoria.sql)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from julia.data._executor import Executor
from julia.queries import sql

Table = Literal["vagas", "clientes"]


def _json(valor: Mapping[str, Any] | None) -> Any:
    """JSON values for the pool's jsonb codec (julia/db.py encodes with plain json.dumps): a returned row's
    dates and decimals as the strings the API answered with."""
    return None if valor is None else json.loads(json.dumps(valor, default=str))


async def abrir_auditoria(
    db: Executor,
    *,
    operador: str,
    origem: str | None,
    acao: str,
    alvo: str | None,
    pedido: Mapping[str, Any] | None,
    tabela: Table | None,
    target_id: int | None,
) -> int:
    """Record a write about to run, with the target row as it is now; its id for fechar_auditoria."""
    auditoria_id: int = await db.fetchval(
        sql("abrir_auditoria"), operador, origem, acao, alvo, _json(pedido), tabela, target_id
    )
    return auditoria_id


async def fechar_auditoria(
    db: Executor, auditoria_id: int, status: int, depois: Mapping[str, Any] | None
) -> None:
    await db.execute(sql("fechar_auditoria"), auditoria_id, status, _json(depois))
