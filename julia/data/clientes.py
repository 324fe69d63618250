from __future__ import annotations

import asyncpg

from julia.data._executor import Executor
from julia.queries import sql


async def buscar_medico_por_telefone(db: Executor, telefone: str) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_medico_por_telefone"), telefone)


async def buscar_medico_por_id(db: Executor, cliente_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_medico_por_id"), cliente_id)


async def buscar_medicos_por_tag(db: Executor, tag: str, limite: int = 100) -> list[asyncpg.Record]:
    return await db.fetch(sql("buscar_medicos_por_tag"), tag, limite)
