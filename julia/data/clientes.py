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
    return await db.fetch(sql("buscar_medicos_por_tag"), tag, limite)
