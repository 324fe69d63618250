from __future__ import annotations

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("buscar_medico_por_telefone")
async def buscar_medico_por_telefone(db: Executor, telefone: str) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_medico_por_telefone"), telefone)


@metrics.timed("buscar_medico_por_id")
async def buscar_medico_por_id(db: Executor, cliente_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_medico_por_id"), cliente_id)


@metrics.timed("buscar_medicos_por_tag")
async def buscar_medicos_por_tag(db: Executor, tag: str, limite: int = 100) -> list[asyncpg.Record]:
    """Doctors carrying `tag`, planned for this very tag on every call.

    The best plan depends on the value: a rare tag wants idx_clientes_tags, a tag most doctors carry
    wants clientes_pkey in id order up to the LIMIT. A cached prepared statement may switch to one
    generic plan after five runs, and the generic plan here walks clientes_pkey with a filter: a full
    scan for a rare tag. A fresh prepared statement (one more round trip; this is campaign targeting, not
    the message path) is always planned for its value.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await buscar_medicos_por_tag(conn, tag, limite)
    statement = await db.prepare(sql("buscar_medicos_por_tag"))
    return await statement.fetch(tag, limite)
