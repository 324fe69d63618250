"""evolution_conexoes: the last connection state Evolution reported per WhatsApp instance
(julia/sql/evolution_conexoes.sql)."""

from __future__ import annotations

from julia.data._executor import Executor
from julia.queries import sql


async def registrar_conexao_evolution(db: Executor, instancia: str, estado: str, reason: int | None) -> None:
    """Store a connection.update: the instance's state and status reason (None: unknown)."""
    await db.execute(sql("registrar_conexao_evolution"), instancia, estado, reason)


async def estado_whatsapp(db: Executor, instancia: str) -> str | None:
    """The state Evolution last reported for the instance; None when it never did."""
    estado: str | None = await db.fetchval(sql("estado_whatsapp"), instancia)
    return estado
