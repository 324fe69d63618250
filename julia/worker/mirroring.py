"""Mirroring every message to the doctor's Chatwoot conversation (contact and conversation created on
first contact, their ids stored). Best effort: WhatsApp is the channel, Chatwoot the agents' window, so a
Chatwoot outage is logged and never blocks a reply.

A conversation's Chatwoot id never changes once stored (guardar_conversa_chatwoot keeps the first), so
each worker process remembers the ids it has seen (`WorkerContext.chatwoot_ids`): every message is mirrored
twice (the doctor's, then Júlia's), and each mirror used to read the conversation from Postgres again."""

from __future__ import annotations

import logging
from typing import Literal

from julia.integrations import IntegrationError
from julia.integrations.chatwoot import Chatwoot
from julia.services.mirror import ensure_chatwoot_conversation
from julia.services.relay import notify_agent
from julia.worker.context import WorkerContext

log = logging.getLogger(__name__)

REMEMBERED = 100_000  # conversations whose Chatwoot id a process keeps (a few MB); then it starts over


async def mirror(
    s: WorkerContext,
    conversa_id: int,
    texto: str,
    kind: Literal["incoming", "outgoing"],
    *,
    known: int | None = None,
) -> int | None:
    """Post one message to the conversation; its Chatwoot id (None when Chatwoot is off or failed).
    `conhecido`: the conversation's Chatwoot id as the caller already read it from Postgres (the inbound
    claim returns it), so the first mirror of a conversation in this process reads nothing more."""
    if s.chatwoot is None:
        return None
    try:
        chatwoot_id = await _conversa_chatwoot(s, s.chatwoot, conversa_id, known)
        if chatwoot_id is not None:
            await s.chatwoot.send_message(chatwoot_id, texto, kind)
        return chatwoot_id
    except IntegrationError as exc:
        log.warning("message of conversation %s not mirrored to Chatwoot: %s", conversa_id, exc)
        return None


async def annotate(s: WorkerContext, conversa_id: int, texto: str) -> None:
    """A private note to the agents in the conversation's Chatwoot chat (an agent's message the sender did
    not send, and why); best effort, like the mirror."""
    if s.chatwoot is None:
        return
    try:
        chatwoot_id = await _conversa_chatwoot(s, s.chatwoot, conversa_id, None)
    except IntegrationError as exc:
        log.error("note to the agents of conversation %s not posted (%s): %s", conversa_id, texto, exc)
        return
    if chatwoot_id is not None:
        await notify_agent(s.chatwoot, chatwoot_id, texto)


async def _conversa_chatwoot(
    s: WorkerContext, chatwoot: Chatwoot, conversa_id: int, known: int | None
) -> int | None:
    """The conversation's Chatwoot id, from the caller, this process's memory, Postgres, or created."""
    chatwoot_id = known or s.chatwoot_ids.get(conversa_id)
    if chatwoot_id is None:
        chatwoot_id = await ensure_chatwoot_conversation(s.pool, chatwoot, conversa_id)
    if chatwoot_id is not None and conversa_id not in s.chatwoot_ids:
        if len(s.chatwoot_ids) >= REMEMBERED:
            s.chatwoot_ids.clear()
        s.chatwoot_ids[conversa_id] = chatwoot_id
    return chatwoot_id
