"""conversations: a doctor's conversations with Júlia, and who controls each (julia/sql/conversations.sql)."""

from __future__ import annotations

from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("buscar_conversa_ativa")
async def buscar_conversa_ativa(db: Executor, cliente_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_conversa_ativa"), cliente_id)


async def abrir_conversa(db: Executor, cliente_id: int) -> asyncpg.Record | None:
    """The doctor's new active conversation; None when another message opened one first."""
    return await db.fetchrow(sql("abrir_conversa"), cliente_id)


async def conversa_ativa(db: Executor, cliente_id: int) -> int:
    """The id of the doctor's active conversation, opened when there is none. Run it in a transaction
    (READ COMMITTED: each statement sees what committed before it) so a concurrent opening is found."""
    linha = await buscar_conversa_ativa(db, cliente_id)
    if linha is None:
        linha = await abrir_conversa(db, cliente_id)
    if linha is None:  # opened by a concurrent message of the same doctor after our read
        linha = await buscar_conversa_ativa(db, cliente_id)
    if linha is None:
        raise RuntimeError(f"doctor {cliente_id}: no active conversation found or opened")
    return int(linha["id"])


async def ler_conversa(db: Executor, conversa_id: int) -> asyncpg.Record | None:
    """The conversation with its doctor's phone, first name and Chatwoot contact; None for an unknown id."""
    return await db.fetchrow(sql("ler_conversa"), conversa_id)


async def conversa_por_chatwoot(db: Executor, chatwoot_id: int) -> asyncpg.Record | None:
    """The newest conversation mirrored to Chatwoot conversation `chatwoot_id` (id, cliente_id,
    controlled_by); None when none is."""
    return await db.fetchrow(sql("conversa_por_chatwoot"), chatwoot_id)


async def guardar_conversa_chatwoot(db: Executor, conversa_id: int, chatwoot_id: int) -> None:
    """Store the conversation's Chatwoot id, unless it has one already."""
    await db.execute(sql("guardar_conversa_chatwoot"), conversa_id, chatwoot_id)


async def contar_conversas_ativas(db: Executor) -> int:
    """How many conversations are active."""
    ativas: int = await db.fetchval(sql("contar_conversas_ativas"))
    return ativas


async def conversations_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the doctor's conversations, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("conversations_do_titular"), cliente_id)]


async def marcar_desculpa_atraso(db: Executor, conversa_id: int, janela_s: float) -> bool:
    """Whether Júlia may apologise for a late answer now (none in the last `janela_s` seconds); marks it."""
    return await db.fetchval(sql("marcar_desculpa_atraso"), conversa_id, float(janela_s)) is True


async def marcar_pedido_texto(db: Executor, conversa_id: int, janela_s: float) -> bool:
    """Whether Júlia may ask for text now (she did not in the last `janela_s` seconds); marks it."""
    return await db.fetchval(sql("marcar_pedido_texto"), conversa_id, float(janela_s)) is True
