"""handoffs: a conversation passed from Júlia to a person and back (julia/sql/handoffs.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from julia.data._executor import Executor, fetch_one
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class HandoffBacklog:
    """contar_handoffs_pendentes's row."""

    pendentes: int  # waiting for a person
    mais_antigo_s: float  # how long the oldest has waited; 0 when none


async def passar_para_humano(db: Executor, conversa_id: int, motivo: str) -> int | None:
    """controlled_by -> 'humano' and a handoffs row; the handoff id, or None when a person already had it."""
    handoff_id = await db.fetchval(sql("passar_para_humano"), conversa_id, motivo)
    return int(handoff_id) if handoff_id is not None else None


async def devolver_para_julia(db: Executor, conversa_id: int) -> None:
    """controlled_by -> 'julia'; the conversation's open handoffs resolved."""
    await db.fetch(sql("devolver_para_julia"), conversa_id)


async def contar_handoffs_pendentes(db: Executor) -> HandoffBacklog:
    row = await fetch_one(db, sql("contar_handoffs_pendentes"))
    return HandoffBacklog(**row)


async def handoffs_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the doctor's handoffs to people, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("handoffs_do_titular"), cliente_id)]
