"""Storing an inbound WhatsApp message: what the webhook commits before it answers 2xx (its only caller
is julia/api/webhooks.py, so it lives with the services the API calls, not in the worker).

Every message a person wrote is stored (issue 33, "no silence"): text, media (a description, the caption
as text), choices, reactions, edits and deletes, a sender with no phone. How the worker answers it is
decided here and kept on the work row (`tratamento`, migrations/0012_entradas_tratamento.sql). The stop
words are read here too, and the opt-out registered in the transaction that stores the message: it must
not wait behind the doctor's earlier messages in the worker's queue.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import asyncpg

from julia.cache import Cache, invalidate_medico, medico_by_phone
from julia.data import Executor, clientes, conversations, entradas, interacoes
from julia.data.entradas import StoredEntrada
from julia.data.mensagens_sem_telefone import guardar_mensagem_sem_telefone
from julia.integrations.evolution import (
    Change,
    Handling,
    ReceivedMessage,
    describe_change,
    describe_reaction,
)
from julia.services import limits, opt_out

log = logging.getLogger(__name__)

ACQUIRE_TIMEOUT_S = 10  # a pool this busy answers 503 (Evolution retries) rather than hold the webhook


@dataclass(frozen=True)
class Record:
    """What the webhook did with a message: `estado` is its answer's status and metric label."""

    estado: Literal["recebida", "duplicada", "opt_out", "sem_telefone", "desconhecida"]
    entrada_id: int | None = None


@dataclass(frozen=True)
class Rules:
    """The settings storing a message depends on."""

    old_s: float  # a message older than this when it arrives gets the apology, not a Claude answer
    with_team: bool  # Chatwoot is configured: the opt-out confirmation may promise a person
    max_chars: int  # INBOUND_MAX_CHARS: what is kept of a message, and sent to Claude
    por_minuto: int  # INBOUND_PER_MINUTE: messages a minute one number gets answered by Claude
    per_day: int  # INBOUND_PER_DAY: messages a day one number gets answered by Claude


async def record_message(pool: asyncpg.Pool, cache: Cache, msg: ReceivedMessage, rules: Rules) -> Record:
    """Store a `messages.upsert` message and its work row (see `_store`).

    An `@lid` sender without a phone is kept apart (mensagens_sem_telefone), logged and counted by the
    caller: there is no doctor to attach it to, and refusing it would lose it. A reaction names the
    message it is about (one more statement, reactions only). A message sent more than `old_s` ago
    (Evolution's backlog after an outage, a re-pair's history) is stored for the apology, not Claude.
    The text is cut to `max_chars`, and a message over its number's `por_minuto` or `per_day` is stored
    and mirrored only, never answered by Claude (julia/services/limits.py: one Redis round trip a
    message); its stop words still opt the doctor out.
    """
    if msg.telefone is None:
        nova = await guardar_mensagem_sem_telefone(pool, msg.jid, msg.whatsapp_id, msg.texto, msg.nome)
        if nova:
            log.warning(
                "message %s from %s has no phone (an @lid without remoteJidAlt): kept apart",
                msg.whatsapp_id,
                msg.jid,
            )
        return Record("sem_telefone" if nova else "duplicada")
    texto = msg.texto
    if msg.reaction is not None:
        alvo = msg.reaction.alvo
        reacted = await interacoes.ler_por_whatsapp(pool, alvo) if alvo is not None else None
        texto = describe_reaction(msg.reaction, reacted.conteudo if reacted is not None else None)
    tratamento: Handling = msg.tratamento
    if (
        msg.enviada_em is not None
        and time.time() - msg.enviada_em > rules.old_s
        and tratamento in ("responder", "pedir_texto")
    ):
        tratamento = "desculpar"
    texto = limits.trim(texto, rules.max_chars)
    if not await limits.reply(cache, msg.telefone, rules.por_minuto, rules.per_day):
        tratamento = "registrar"
    medico = await medico_by_phone(pool, cache, msg.telefone)
    return await _store(
        pool,
        cache,
        medico["id"] if medico is not None else None,
        msg.telefone,
        texto,
        msg.whatsapp_id,
        tratamento,
        stop=opt_out.asks_opt_out(msg.written),
        with_team=rules.with_team,
    )


async def record_change(pool: asyncpg.Pool, cache: Cache, change: Change, rules: Rules) -> Record:
    """Store a doctor's edit or delete as a message of its own, quoting the one it changed, in that
    doctor's active conversation. An edit is answered like a message; a delete is only stored and
    mirrored; either is handed to a person when a reservation came of the message it changed (an
    "aceito" taken back). `desconhecida`: the changed message is not ours to know (not stored)."""
    original = await interacoes.ler_por_whatsapp(pool, change.alvo)
    if original is None or original.direcao != "entrada":
        return Record("desconhecida")
    tratamento: Handling = "registrar" if change.texto is None else "responder"
    if original.reservou:
        tratamento = "passar"
    return await _store(
        pool,
        cache,
        original.cliente_id,
        original.telefone,
        describe_change(change, original.conteudo),
        change.whatsapp_id,
        tratamento,
        stop=change.texto is not None and opt_out.asks_opt_out(change.texto),
        with_team=rules.with_team,
    )


async def _store(
    pool: asyncpg.Pool,
    cache: Cache,
    cliente_id: int | None,
    telefone: str,
    texto: str,
    whatsapp_id: str,
    tratamento: Handling,
    *,
    stop: bool,
    with_team: bool,
) -> Record:
    """Store the interaction and its work row; `duplicada` when this WhatsApp id was already stored (a
    redelivery: nothing new, no second reply).

    A known doctor (`cliente_id`, found through the cache) with an active conversation, nearly every
    message, is one statement and no transaction (entradas.registrar_entrada). Otherwise the doctor (an
    unknown number becomes a lead, status 'novo') and the conversation are made first, in one transaction
    with the message; a new lead is never cached as "absent", so the next message finds it.

    `parar` (the stop words): the opt-out is registered in the message's transaction, whoever controls
    the conversation, and the message itself is only stored and mirrored (julia.services.opt_out).
    """
    if stop:
        tratamento = "registrar"
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        if cliente_id is not None and not stop:
            recorded = await entradas.registrar_entrada(conn, cliente_id, texto, whatsapp_id, tratamento)
            if recorded.conversa_ativa:
                return _record(recorded)
        async with conn.transaction():
            # Checked before anything is created: a redelivery must not open a conversation or a lead.
            if await interacoes.existe_interacao_whatsapp(conn, whatsapp_id):
                return Record("duplicada")
            if cliente_id is None:
                cliente_id = await _create_lead(conn, telefone)
            await conversations.conversa_ativa(conn, cliente_id)
            recorded = await entradas.registrar_entrada(conn, cliente_id, texto, whatsapp_id, tratamento)
            if recorded.conversa_id is None:
                raise RuntimeError(f"doctor {cliente_id}: the conversation just opened is not active")
            registro = _record(recorded)
            if not stop or registro.entrada_id is None:
                return registro
            await opt_out.registrar_opt_out(conn, cliente_id, recorded.conversa_id, with_team=with_team)
    await invalidate_medico(cache, cliente_id, telefone)
    return Record("opt_out", registro.entrada_id)


def _record(recorded: StoredEntrada) -> Record:
    if recorded.entrada_id is None:
        return Record("duplicada")
    return Record("recebida", recorded.entrada_id)


async def _create_lead(conn: Executor, telefone: str) -> int:
    new = await clientes.criar_lead(conn, telefone)
    if new is None:  # the first messages of a new doctor raced; the other one created the lead
        new = await clientes.buscar_medico_por_telefone(conn, telefone)
    assert new is not None
    return new.id
