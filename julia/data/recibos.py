"""recibos: WhatsApp's delivery receipts, one row per message id (julia/sql/recibos.sql;
migrations/0016_recibos.sql says why they sit beside fila_mensagens rather than in it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from julia.data._executor import Executor, fetch_one
from julia.metrics import metrics
from julia.queries import sql

DeliveryState = Literal["falhou", "entregue", "lida"]


@dataclass(frozen=True, slots=True)
class DeliveryFailures:
    """contar_falhas_entrega's row."""

    recibos: int
    falhas: int


@metrics.timed("registrar_recibo")
async def registrar_recibo(
    db: Executor, whatsapp_id: str, estado: DeliveryState, status_whatsapp: str
) -> bool:
    """Keep a receipt, forward only; False when it changed nothing (a repeat, a late lower one, or a
    receipt of a message the doctor sent)."""
    atualizado: bool = await db.fetchval(sql("registrar_recibo"), whatsapp_id, estado, status_whatsapp)
    return atualizado


async def contar_falhas_entrega(db: Executor, janela_s: float) -> DeliveryFailures:
    """Receipts of the messages first heard of in the last `janela_s` seconds, and the failed ones."""
    row = await fetch_one(db, sql("contar_falhas_entrega"), float(janela_s))
    return DeliveryFailures(**row)


async def apagar_recibos_antigos(db: Executor, days: int, batch: int) -> int:
    """Retention: up to `lote` receipts whose message was first heard of more than `dias` days ago; how
    many were deleted."""
    status = await db.execute(sql("apagar_recibos_antigos"), days, batch)
    return int(status.rsplit(" ", 1)[1])  # "DELETE n"
