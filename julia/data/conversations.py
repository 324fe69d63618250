"""conversations: a doctor's conversations with Júlia, and who controls each (julia/sql/conversations.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class Conversa:
    """A conversation's row: buscar_conversa_ativa's and abrir_conversa's."""

    id: int
    cliente_id: int
    status: str
    controlled_by: str  # 'julia' or 'humano'
    chatwoot_conversation_id: int | None  # None: not mirrored to Chatwoot yet


@dataclass(frozen=True, slots=True)
class ConversaWithMedico(Conversa):
    """ler_conversa's row: the conversation and what reaches its doctor."""

    telefone: str
    primeiro_nome: str | None
    chatwoot_contact_id: int | None


@dataclass(frozen=True, slots=True)
class MirroredConversa:
    """conversa_por_chatwoot's row: the conversation a Chatwoot conversation mirrors."""

    id: int
    cliente_id: int
    controlled_by: str


@metrics.timed("buscar_conversa_ativa")
async def buscar_conversa_ativa(db: Executor, cliente_id: int) -> Conversa | None:
    row = await db.fetchrow(sql("buscar_conversa_ativa"), cliente_id)
    return None if row is None else Conversa(**row)


async def abrir_conversa(db: Executor, cliente_id: int) -> Conversa | None:
    """The doctor's new active conversation; None when another message opened one first."""
    row = await db.fetchrow(sql("abrir_conversa"), cliente_id)
    return None if row is None else Conversa(**row)


async def conversa_ativa(db: Executor, cliente_id: int) -> int:
    """The id of the doctor's active conversation, opened when there is none. Run it in a transaction
    (READ COMMITTED: each statement sees what committed before it) so a concurrent opening is found."""
    conversa = await buscar_conversa_ativa(db, cliente_id)
    if conversa is None:
        conversa = await abrir_conversa(db, cliente_id)
    if conversa is None:  # opened by a concurrent message of the same doctor after our read
        conversa = await buscar_conversa_ativa(db, cliente_id)
    if conversa is None:
        raise RuntimeError(f"doctor {cliente_id}: no active conversation found or opened")
    return conversa.id


async def ler_conversa(db: Executor, conversa_id: int) -> ConversaWithMedico | None:
    """The conversation with its doctor's phone, first name and Chatwoot contact; None for an unknown id."""
    row = await db.fetchrow(sql("ler_conversa"), conversa_id)
    return None if row is None else ConversaWithMedico(**row)


async def conversa_por_chatwoot(db: Executor, chatwoot_id: int) -> MirroredConversa | None:
    """The newest conversation mirrored to Chatwoot conversation `chatwoot_id`; None when none is."""
    row = await db.fetchrow(sql("conversa_por_chatwoot"), chatwoot_id)
    return None if row is None else MirroredConversa(**row)


async def guardar_conversa_chatwoot(db: Executor, conversa_id: int, chatwoot_id: int) -> None:
    """Store the conversation's Chatwoot id, unless it has one already."""
    await db.execute(sql("guardar_conversa_chatwoot"), conversa_id, chatwoot_id)


async def contar_conversas_ativas(db: Executor) -> int:
    """How many conversations are active."""
    active: int = await db.fetchval(sql("contar_conversas_ativas"))
    return active


async def conversations_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the doctor's conversations, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("conversations_do_titular"), cliente_id)]


async def marcar_desculpa_atraso(db: Executor, conversa_id: int, janela_s: float) -> bool:
    """Whether Júlia may apologise for a late answer now (none in the last `janela_s` seconds); marks it."""
    return await db.fetchval(sql("marcar_desculpa_atraso"), conversa_id, float(janela_s)) is True


async def marcar_pedido_texto(db: Executor, conversa_id: int, janela_s: float) -> bool:
    """Whether Júlia may ask for text now (she did not in the last `janela_s` seconds); marks it."""
    return await db.fetchval(sql("marcar_pedido_texto"), conversa_id, float(janela_s)) is True
