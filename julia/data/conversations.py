from __future__ import annotations

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("buscar_conversa_ativa")
async def buscar_conversa_ativa(db: Executor, cliente_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(sql("buscar_conversa_ativa"), cliente_id)
