"""The Chatwoot side of a julia conversation: the doctor's contact and the conversation, created in
Chatwoot on first contact and their ids stored (julia/worker/mirroring.py mirrors every message there)."""

from __future__ import annotations

import asyncpg

from julia.data import clientes, conversations
from julia.integrations.chatwoot import Chatwoot


async def ensure_chatwoot_conversation(
    pool: asyncpg.Pool, chatwoot: Chatwoot, conversa_id: int
) -> int | None:
    """The Chatwoot conversation id of a julia conversation, created (with the contact) when missing;
    None when there is no such conversation."""
    conversa = await conversations.ler_conversa(pool, conversa_id)
    if conversa is None:
        return None
    if conversa.chatwoot_conversation_id is not None:
        return conversa.chatwoot_conversation_id
    telefone = conversa.telefone
    contact_id, source_id = conversa.chatwoot_contact_id, None
    if contact_id is None:
        contact_id, source_id = await chatwoot.create_contact(telefone, conversa.primeiro_nome)
        await clientes.guardar_contato_chatwoot(pool, conversa.cliente_id, contact_id)
    chatwoot_id = await chatwoot.create_conversa(contact_id, source_id, telefone)
    await conversations.guardar_conversa_chatwoot(pool, conversa_id, chatwoot_id)
    return chatwoot_id
