"""entradas: the inbound messages to answer, a lease queue (its policy: julia/services/fila.py) over the
statements of julia/sql/entradas.sql."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from julia.data._executor import Executor, fetch_one
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class ClaimedInbound:
    """A claimed inbound row: reivindicar_entradas's RETURNING list, name for name (a column added there
    and not here fails at the first claim, and code reading a field the list lacks fails mypy)."""

    id: int
    status: str  # 'processando'; 'erro' when the claim found it past the attempt cap
    interacao_id: int
    cliente_id: int
    conversa_id: int
    tentativas: int  # every claim's; also the fencing token
    esperas: int  # the claims that were rate-limit waits, not counted against the cap
    tratamento: str
    conteudo: str
    controlled_by: str
    chatwoot_conversation_id: int | None
    telefone: str
    status_medico: str


@dataclass(frozen=True, slots=True)
class StoredEntrada:
    """registrar_entrada's row."""

    entrada_id: int | None  # None: this WhatsApp id was already stored
    conversa_id: int | None  # None: the doctor has no active conversation
    conversa_ativa: bool  # False: nothing was written


@dataclass(frozen=True, slots=True)
class EntradaBacklog:
    """contar_entradas_abertas's row."""

    abertas: int  # not yet answered
    mais_antiga_s: float  # how long the oldest has waited; 0 when none


async def reivindicar_entradas(
    db: Executor, limit: int, lease_s: float, maximum: int, in_progress: Sequence[int]
) -> list[ClaimedInbound]:
    """Up to `limite` rows to answer (each doctor's oldest only), leased for `lease_s` seconds; rows past
    `maximo` tries come back as 'erro', and `in_progress` (rows this worker still runs) is never claimed."""
    rows = await db.fetch(sql("reivindicar_entradas"), limit, float(lease_s), maximum, list(in_progress))
    return [ClaimedInbound(**row) for row in rows]


async def renovar_entrada(db: Executor, entrada_id: int, tentativas: int, lease_s: float) -> bool:
    """The lease of attempt `tentativas` pushed `lease_s` seconds ahead; False when it no longer holds
    the row."""
    return await db.fetchval(sql("renovar_entrada"), entrada_id, tentativas, lease_s) is not None


async def adiar_entrada(db: Executor, entrada_id: int, tentativas: int, wait_s: float, motivo: str) -> None:
    """Attempt `tentativas` failed: pending again in `wait_s` seconds, with the reason."""
    await db.execute(sql("adiar_entrada"), entrada_id, tentativas, wait_s, motivo)


async def esperar_entrada(db: Executor, entrada_id: int, tentativas: int, wait_s: float, motivo: str) -> None:
    """Attempt `tentativas` was a rate limit's wait: pending again in `wait_s` seconds, counted in
    `esperas`, not against the cap."""
    await db.execute(sql("esperar_entrada"), entrada_id, tentativas, wait_s, motivo)


async def falhar_entrada(db: Executor, entrada_id: int, tentativas: int, motivo: str) -> None:
    """Attempt `tentativas` failed for good: 'erro', with the reason."""
    await db.execute(sql("falhar_entrada"), entrada_id, tentativas, motivo)


async def registrar_entrada(
    db: Executor, cliente_id: int, texto: str, whatsapp_id: str, tratamento: str = "responder"
) -> StoredEntrada:
    """The inbound interaction and its entradas row (answered as `tratamento` says) in the doctor's active
    conversation, in one statement: `entrada_id` (None when this WhatsApp id was already stored),
    `conversa_id` and `conversa_ativa` (False: the doctor has none, and nothing was written)."""
    row = await fetch_one(db, sql("registrar_entrada"), cliente_id, texto, whatsapp_id, tratamento)
    return StoredEntrada(**row)


async def concluir_entrada(
    db: Executor,
    entrada_id: int,
    tentativas: int,
    resposta: str | None,
    *,
    versao_prompt: str | None,
    prioridade: int,
    even_if_human: bool,
) -> bool:
    """Mark the row done and store + queue `resposta` (when given), unless a person controls the
    conversation and not `even_if_human`; one statement. False when this attempt (`tentativas`, the
    fencing token) no longer holds the row: then nothing changed."""
    row = await fetch_one(
        db,
        sql("concluir_entrada"),
        entrada_id,
        tentativas,
        resposta,
        versao_prompt,
        prioridade,
        even_if_human,
    )
    feita: bool = row["feita"]
    return feita


async def contar_entradas_abertas(db: Executor) -> EntradaBacklog:
    row = await fetch_one(db, sql("contar_entradas_abertas"))
    return EntradaBacklog(**row)


async def entradas_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the doctor's inbound work rows, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("entradas_do_titular"), cliente_id)]
