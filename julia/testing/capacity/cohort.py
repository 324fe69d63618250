"""The doctors of a capacity run: seeded ones Júlia answers, their webhooks, and the reply matched back
to each message by a token Claude's fake quotes."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import asyncpg

from julia.data import conversations
from julia.integrations.evolution import phone_e164
from julia.testing.evolution import message_received

TOKEN = re.compile(r"\[cap:([0-9a-f]{12})\]")

# Seeded doctors Júlia writes to: not opted out or blocked, and no person holding their conversation.
ANSWERABLE = """
SELECT c.telefone FROM clientes c
LEFT JOIN conversations v ON v.cliente_id = c.id AND v.status = 'ativa'
WHERE c.status NOT IN ('opt_out', 'bloqueado') AND coalesce(v.controlled_by, 'julia') <> 'humano'
ORDER BY c.id LIMIT $1
"""


# What a synthetic campaign says (the capacity run's and the enqueue benchmark's).
CAMPANHA_TEXT = "Oi {primeiro_nome}! Plantões de {especialidade} esta semana. Quer ver?"
CAMPANHA_TEMPLATE = "oferta_plantao"  # julia/templates.py: the Cloud API's campaign

# The tag whose eligible doctors (what a campaign queues) come closest to $1 in number, and how many.
CLOSEST_TAG = """
SELECT t.tag, count(*) AS n FROM clientes c, unnest(c.tags) AS t(tag)
WHERE c.status NOT IN ('opt_out', 'bloqueado', 'inativo')
GROUP BY t.tag ORDER BY abs(count(*) - $1), t.tag LIMIT 1
"""


async def how_many_opted_out(conn: asyncpg.Connection, numbers: set[str]) -> int:
    """How many of the numbers sent to (Evolution's, digits only) are doctors opted out or blocked."""
    e164 = [f"+{n}" for n in numbers]
    sql = "SELECT count(*) FROM clientes WHERE status IN ('opt_out', 'bloqueado') AND telefone = ANY($1)"
    return int(await conn.fetchval(sql, e164))


async def how_many_stored(conn: asyncpg.Connection, tokens: list[str]) -> int:
    """How many of these messages are in Postgres with their work row (the webhook's whole write)."""
    sql = """
    SELECT count(*) FROM interacoes i JOIN entradas e ON e.interacao_id = i.id
    WHERE i.whatsapp_message_id = ANY($1::text[])
    """
    return int(await conn.fetchval(sql, [whatsapp_id(t) for t in tokens]))


async def answerable(conn: asyncpg.Connection, how_many: int) -> list[str]:
    telefones = [str(t) for t in await conn.fetchval(f"SELECT array({ANSWERABLE})", how_many)]
    if len(telefones) < how_many:
        raise RuntimeError(f"only {len(telefones)} answerable doctors seeded, {how_many} wanted")
    return telefones


# The doctors' Chatwoot contact and active conversation, as the campaign they answer left them: julia
# mirrors every send, so a campaign's first message to a doctor created both (julia/worker/mirroring.py).
# The ids are made up (the fake Chatwoot takes any conversation id); a doctor's own ones are kept.
CONTACTS = """
UPDATE clientes SET chatwoot_contact_id = coalesce(chatwoot_contact_id, 700000000 + id)
WHERE telefone = ANY($1::text[])
RETURNING id
"""
CONVERSATIONS = """
UPDATE conversations SET chatwoot_conversation_id = coalesce(chatwoot_conversation_id, 700000000 + id)
WHERE id = ANY($1::bigint[])
"""


async def already_in_chatwoot(conn: asyncpg.Connection, telefones: list[str]) -> None:
    """Give these doctors the Chatwoot contact and active conversation a mirrored campaign would have."""
    ids = [int(row["id"]) for row in await conn.fetch(CONTACTS, telefones)]
    conversas = [await conversations.conversa_ativa(conn, client_id) for client_id in ids]
    await conn.execute(CONVERSATIONS, conversas)


def new_token() -> str:
    return uuid.uuid4().hex[:12]


def whatsapp_id(token: str) -> str:
    """The WhatsApp message id of the doctor message carrying `token`."""
    return f"CAP{token}"


def webhook(
    telefone: str, token: str, text: str = "Tenho interesse no plantão, pode mandar os detalhes?"
) -> dict[str, Any]:
    """Evolution v2's messages.upsert for one doctor's message (wire format: docs/integrations.md)."""
    assert phone_e164(telefone.lstrip("+") + "@s.whatsapp.net") == telefone
    return message_received(
        f"{text} [cap:{token}]",
        numero=telefone.lstrip("+"),
        msg_id=whatsapp_id(token),
        nome="Dr. Capacidade",
        stamp=int(time.time()),
    )


def token_of_reply(text: str) -> str | None:
    """The token of the doctor message a reply answers (the fake Claude echoes the last user turn)."""
    found_one = TOKEN.findall(text)
    return found_one[-1] if found_one else None
