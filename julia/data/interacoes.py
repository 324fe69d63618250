from __future__ import annotations

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql

HISTORICO = 20  # messages of context Claude sees


@metrics.timed("carregar_historico")
async def carregar_historico(db: Executor, conversa_id: int, limite: int = HISTORICO) -> list[asyncpg.Record]:
    """The last `limite` interactions of a conversation, newest first."""
    return await db.fetch(sql("carregar_historico"), conversa_id, limite)
