"""interacoes: the messages of a conversation, both ways (julia/sql/interacoes.sql)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql

HISTORY = 20  # messages of context Claude sees


@dataclass(frozen=True, slots=True)
class Interacao:
    """carregar_historico's row: one message of the conversation."""

    id: int
    direcao: str  # 'entrada' (the doctor's) or 'saida'
    origem: str
    conteudo: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class WhatsappInteracao:
    """ler_por_whatsapp's row: the message a reaction, an edit or a delete points at."""

    id: int
    cliente_id: int
    direcao: str
    conteudo: str
    telefone: str  # its doctor's
    reservou: bool  # a reservation came of it


@metrics.timed("carregar_historico")
async def carregar_historico(db: Executor, conversa_id: int, limit: int = HISTORY) -> list[Interacao]:
    """The last `limite` interactions of a conversation, newest first."""
    return [Interacao(**row) for row in await db.fetch(sql("carregar_historico"), conversa_id, limit)]


async def existe_interacao_whatsapp(db: Executor, whatsapp_id: str) -> bool:
    """Whether an interaction with this WhatsApp message id is stored (a redelivered webhook)."""
    existe: bool = await db.fetchval(sql("existe_interacao_whatsapp"), whatsapp_id)
    return existe


async def interacoes_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: every message of and to the doctor, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("interacoes_do_titular"), cliente_id)]


async def apagar_interacoes_antigas(db: Executor, days: int, batch: int) -> int:
    """Retention: up to `lote` interactions older than `dias` days deleted (with their entradas, tool calls
    and queue rows); how many."""
    status = await db.execute(sql("apagar_interacoes_antigas"), days, batch)
    return int(status.rsplit(" ", 1)[1])  # "DELETE n"


async def ler_por_whatsapp(db: Executor, whatsapp_id: str) -> WhatsappInteracao | None:
    """The interaction with this WhatsApp id; None when none is stored."""
    row = await db.fetchrow(sql("ler_por_whatsapp"), whatsapp_id)
    return None if row is None else WhatsappInteracao(**row)
