"""Storing an inbound WhatsApp message: what the webhook commits before it answers 2xx (its only caller
is julia/api/webhooks.py, so it lives with the services the API calls, not in the worker)."""

from __future__ import annotations

import asyncpg

from julia.cache import Cache, medico_por_telefone
from julia.data import Executor, clientes, conversations, entradas, interacoes
from julia.integrations.evolution import MensagemRecebida
from julia.services import limite
from julia.settings import Settings

ACQUIRE_TIMEOUT_S = 10  # a pool this busy answers 503 (Evolution retries) rather than hold the webhook


async def registrar_mensagem(
    pool: asyncpg.Pool, cache: Cache, settings: Settings, msg: MensagemRecebida
) -> int | None:
    """Store the interaction and its work row; the entrada id, or None when this WhatsApp id was already
    stored (a redelivery: nothing new, no second reply).

    The text is cut to INBOUND_MAX_CHARS, and a message over its number's INBOUND_PER_MINUTE is stored
    with its work row already done: never answered by Claude (julia/services/limite.py).

    A known doctor (looked up through the cache) with an active conversation, nearly every message, is one
    statement and no transaction (entradas.registrar_entrada). Otherwise the doctor (an unknown number
    becomes a lead, status 'novo') and the conversation are made first, in one transaction with the
    message; a new lead is never cached as "absent", so the next message finds it.
    """
    texto = limite.cortar(msg.texto, settings.inbound_max_chars)
    resposta = await limite.responder(cache, msg.telefone, settings.inbound_per_minute)
    medico = await medico_por_telefone(pool, cache, msg.telefone)
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        if medico is not None:
            registrada = await entradas.registrar_entrada(
                conn, medico["id"], texto, msg.whatsapp_id, responder=resposta
            )
            if registrada["conversa_ativa"]:
                return _entrada_id(registrada)
        async with conn.transaction():
            # Checked before anything is created: a redelivery must not open a conversation or a lead.
            if await interacoes.existe_interacao_whatsapp(conn, msg.whatsapp_id):
                return None
            cliente_id = medico["id"] if medico is not None else await _criar_lead(conn, msg.telefone)
            await conversations.conversa_ativa(conn, cliente_id)
            registrada = await entradas.registrar_entrada(
                conn, cliente_id, texto, msg.whatsapp_id, responder=resposta
            )
            if not registrada["conversa_ativa"]:
                raise RuntimeError(f"doctor {cliente_id}: the conversation just opened is not active")
            return _entrada_id(registrada)


def _entrada_id(registrada: asyncpg.Record) -> int | None:
    return None if registrada["entrada_id"] is None else int(registrada["entrada_id"])


async def _criar_lead(conn: Executor, telefone: str) -> int:
    novo = await clientes.criar_lead(conn, telefone)
    if novo is None:  # the first messages of a new doctor raced; the other one created the lead
        novo = await clientes.buscar_medico_por_telefone(conn, telefone)
    assert novo is not None
    return int(novo["id"])
