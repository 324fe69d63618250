"""mensagens_sem_telefone: messages whose sender came only as an `@lid`, with no phone to find a doctor
by (julia/sql/mensagens_sem_telefone.sql; migrations/0012_entradas_tratamento.sql says why they are kept)."""

from __future__ import annotations

from julia.data._executor import Executor
from julia.queries import sql


async def guardar_mensagem_sem_telefone(
    db: Executor, jid: str, whatsapp_id: str, conteudo: str, nome: str | None
) -> bool:
    """Keep the message; False when this WhatsApp id was already kept."""
    guardada: bool = await db.fetchval(sql("guardar_mensagem_sem_telefone"), jid, whatsapp_id, conteudo, nome)
    return guardada
