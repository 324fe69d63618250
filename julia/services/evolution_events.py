"""What Evolution tells julia about WhatsApp besides the doctors' messages (julia/api/webhooks.py): the
delivery receipts of what julia sent, and the connection's state, which stops or lets go every send."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from julia.data.evolution_conexoes import registrar_conexao_evolution
from julia.data.recibos import registrar_recibo
from julia.integrations.evolution import Receipt
from julia.services import pause


async def record_receipt(pool: asyncpg.Pool, receipt: Receipt) -> bool:
    """Keep a receipt, forward only (julia/sql/recibos.sql); False when it changed nothing: a repeat, a
    delivery after the read, a receipt of a message the doctor sent. The failed ones feed the delivery
    check that pauses campaigns (julia/services/deliveries.py)."""
    return await registrar_recibo(pool, receipt.whatsapp_id, receipt.estado, receipt.status)


async def record_connection(
    pool: asyncpg.Pool, redis: aioredis.Redis, instancia: str, estado: str, reason: int | None
) -> None:
    """A connection.update: its state stored (the health check reads it), then the stop of sending set
    or lifted (julia/services/pause.py), both before the webhook answers, so a lost stop is a 503 that
    Evolution retries rather than sends spent against a closed connection."""
    await registrar_conexao_evolution(pool, instancia, estado, reason)
    await pause.conexao(redis, estado, reason)
