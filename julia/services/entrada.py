"""Storing an inbound WhatsApp message: what the webhook commits before it answers 2xx (its only caller
is julia/api/webhooks.py, so it lives with the services the API calls, not in the worker)."""

from __future__ import annotations

import asyncpg

from julia.cache import Cache, medico_por_telefone
from julia.data import Executor, clientes, conversations, entradas, interacoes
from julia.integrations.evolution import MensagemRecebida


async def registrar_mensagem(pool: asyncpg.Pool, cache: Cache, msg: MensagemRecebida) -> int | None:
    """Store the interaction and its work row in one transaction; the entrada id, or None when this
    WhatsApp id was already stored (a redelivery: nothing new, no second reply).

    The doctor (an unknown number becomes a lead, status 'novo') and the active conversation (opened if
    none) are resolved here because an interaction cannot exist without them. The doctor lookup runs
    before the transaction, through the cache (a new lead is never cached as "absent", so it is found
    by the next message).
    """
    medico = await medico_por_telefone(pool, cache, msg.telefone)
    async with pool.acquire(timeout=10) as conn, conn.transaction():
        if await interacoes.existe_interacao_whatsapp(conn, msg.whatsapp_id):
            return None
        cliente_id = medico["id"] if medico is not None else await _criar_lead(conn, msg.telefone)
        conversa_id = await conversations.conversa_ativa(conn, cliente_id)
        return await entradas.registrar_entrada(conn, conversa_id, cliente_id, msg.texto, msg.whatsapp_id)


async def _criar_lead(conn: Executor, telefone: str) -> int:
    novo = await clientes.criar_lead(conn, telefone)
    if novo is None:  # the first messages of a new doctor raced; the other one created the lead
        novo = await clientes.buscar_medico_por_telefone(conn, telefone)
    assert novo is not None
    return int(novo["id"])
