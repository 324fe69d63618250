"""handoffs: a conversation passed from Júlia to a person and back (julia/sql/handoffs.sql)."""

from __future__ import annotations

from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.queries import sql


async def passar_para_humano(db: Executor, conversa_id: int, motivo: str) -> int | None:
    """controlled_by -> 'humano' and a handoffs row; the handoff id, or None when a person already had it."""
    handoff_id = await db.fetchval(sql("passar_para_humano"), conversa_id, motivo)
    return int(handoff_id) if handoff_id is not None else None


async def devolver_para_julia(db: Executor, conversa_id: int) -> None:
    """controlled_by -> 'julia'; the conversation's open handoffs resolved."""
    await db.fetch(sql("devolver_para_julia"), conversa_id)


async def contar_handoffs_pendentes(db: Executor) -> asyncpg.Record:
    """`pendentes` and `mais_antigo_s` (how long the oldest has waited)."""
    linha = await db.fetchrow(sql("contar_handoffs_pendentes"))
    assert linha is not None  # an aggregate without GROUP BY always returns its row
    return linha


async def handoffs_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the doctor's handoffs to people, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("handoffs_do_titular"), cliente_id)]
