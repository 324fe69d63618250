"""interacoes: the messages of a conversation, both ways (julia/sql/interacoes.sql)."""

from __future__ import annotations

from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql

HISTORICO = 20  # messages of context Claude sees


@metrics.timed("carregar_historico")
async def carregar_historico(db: Executor, conversa_id: int, limite: int = HISTORICO) -> list[asyncpg.Record]:
    """The last `limite` interactions of a conversation, newest first."""
    return await db.fetch(sql("carregar_historico"), conversa_id, limite)


async def existe_interacao_whatsapp(db: Executor, whatsapp_id: str) -> bool:
    """Whether an interaction with this WhatsApp message id is stored (a redelivered webhook)."""
    existe: bool = await db.fetchval(sql("existe_interacao_whatsapp"), whatsapp_id)
    return existe


async def interacoes_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: every message of and to the doctor, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("interacoes_do_titular"), cliente_id)]


async def apagar_interacoes_antigas(db: Executor, dias: int, lote: int) -> int:
    """Retention: up to `lote` interactions older than `dias` days deleted (with their entradas, tool calls
    and queue rows); how many."""
    status = await db.execute(sql("apagar_interacoes_antigas"), dias, lote)
    return int(status.rsplit(" ", 1)[1])  # "DELETE n"


async def ler_por_whatsapp(db: Executor, whatsapp_id: str) -> asyncpg.Record | None:
    """The interaction with this WhatsApp id (`cliente_id`, `direcao`, `conteudo`, `telefone`, and
    `reservou`: a reservation came of it); None when none is stored."""
    return await db.fetchrow(sql("ler_por_whatsapp"), whatsapp_id)
