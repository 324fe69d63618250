"""clientes: the doctors (julia/sql/clientes.sql)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class Medico:
    """A doctor's row as buscar_medico_por_telefone, buscar_medico_por_id and criar_lead return it, column
    for column and in their order (the cache stores it as a JSON object in this order:
    julia/cache/medicos.py)."""

    id: int
    telefone: str
    primeiro_nome: str | None
    sobrenome: str | None
    crm: str | None
    especialidade_id: int | None
    status: str
    tags: list[str]
    preferencias: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpdatedMedico(Medico):
    """atualizar_medico's row: the doctor after the patch, and the phone it replaced."""

    telefone_anterior: str


@dataclass(frozen=True, slots=True)
class MedicoContext(Medico):
    """carregar_contexto_estatico's row: the doctor and their specialty's name (None: no specialty)."""

    especialidade: str | None


@dataclass(frozen=True, slots=True)
class TaggedMedico:
    """buscar_medicos_por_tag's row: a doctor a campaign may reach."""

    id: int
    telefone: str
    primeiro_nome: str | None
    especialidade_id: int | None
    status: str
    tags: list[str]


@dataclass(frozen=True, slots=True)
class LockedTitular:
    """travar_titular's row: the doctor an LGPD erasure holds locked."""

    id: int
    opt_out_em: dt.datetime | None  # None unless they opted out
    chatwoot_contact_id: int | None


@metrics.timed("buscar_medico_por_telefone")
async def buscar_medico_por_telefone(db: Executor, telefone: str) -> Medico | None:
    row = await db.fetchrow(sql("buscar_medico_por_telefone"), telefone)
    return None if row is None else Medico(**row)


@metrics.timed("buscar_medico_por_id")
async def buscar_medico_por_id(db: Executor, cliente_id: int) -> Medico | None:
    row = await db.fetchrow(sql("buscar_medico_por_id"), cliente_id)
    return None if row is None else Medico(**row)


@metrics.timed("buscar_medicos_por_tag")
async def buscar_medicos_por_tag(db: Executor, tag: str, limit: int = 100) -> list[TaggedMedico]:
    """Doctors carrying `tag`, planned for this very tag on every call.

    The best plan depends on the value: a rare tag wants idx_clientes_tags, a tag most doctors carry
    wants clientes_pkey in id order up to the LIMIT. A cached prepared statement may switch to one
    generic plan after five runs, and the generic plan here walks clientes_pkey with a filter: a full
    scan for a rare tag. A fresh prepared statement (one more round trip; this is campaign targeting, not
    the message path) is always planned for its value.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await buscar_medicos_por_tag(conn, tag, limit)
    statement = await db.prepare(sql("buscar_medicos_por_tag"))
    return [TaggedMedico(**row) for row in await statement.fetch(tag, limit)]


async def destino_mensagem(db: Executor, cliente_id: int) -> str | None:
    """The doctor's phone; None for an unknown id."""
    telefone: str | None = await db.fetchval(sql("destino_mensagem"), cliente_id)
    return telefone


async def criar_lead(db: Executor, telefone: str) -> Medico | None:
    """A new doctor with status 'novo' for an unknown number; None when the number was taken meanwhile
    (the first messages of one doctor racing)."""
    row = await db.fetchrow(sql("criar_lead"), telefone)
    return None if row is None else Medico(**row)


async def atualizar_medico(db: Executor, cliente_id: int, changes: Mapping[str, Any]) -> UpdatedMedico | None:
    """The doctor after the patch `changes` (a key present sets its column), with `telefone_anterior`
    (the phone it replaced); None for an unknown id."""
    row = await db.fetchrow(sql("atualizar_medico"), cliente_id, dict(changes))
    return None if row is None else UpdatedMedico(**row)


async def carregar_contexto_estatico(db: Executor, cliente_id: int) -> MedicoContext | None:
    """The doctor's columns and `especialidade` (its name); None for an unknown id."""
    row = await db.fetchrow(sql("carregar_contexto_estatico"), cliente_id)
    return None if row is None else MedicoContext(**row)


async def guardar_contato_chatwoot(db: Executor, cliente_id: int, contact_id: int) -> None:
    """Store the doctor's Chatwoot contact id."""
    await db.execute(sql("guardar_contato_chatwoot"), cliente_id, contact_id)


async def registrar_opt_out(db: Executor, cliente_id: int) -> bool:
    """The doctor opt_out; False when they already were."""
    mudou: bool = await db.fetchval(sql("registrar_opt_out"), cliente_id)
    return mudou


async def cancelar_envios_pendentes(db: Executor, cliente_id: int) -> int:
    """Every message to the doctor not yet handed to Evolution cancelled; how many."""
    canceladas: int = await db.fetchval(sql("cancelar_envios_pendentes"), cliente_id)
    return canceladas


async def contar_medicos(db: Executor) -> int:
    """How many doctors there are."""
    total: int = await db.fetchval(sql("contar_medicos"))
    return total


async def primeiro_telefone(db: Executor) -> str | None:
    """The phone of the doctor with the lowest id; None when there is none."""
    telefone: str | None = await db.fetchval(sql("primeiro_telefone"))
    return telefone


async def titular_por_telefone(db: Executor, telefone: str) -> tuple[int, dict[str, Any]] | None:
    """LGPD export: the doctor's id and whole row as JSON; None for an unknown number."""
    row = await db.fetchrow(sql("titular_por_telefone"), telefone)
    return None if row is None else (row["id"], row["linha"])


async def travar_titular(db: Executor, telefone: str) -> LockedTitular | None:
    """LGPD erasure, inside its transaction: the doctor's row locked; `id`, `opt_out_em` (None unless
    they opted out) and `chatwoot_contact_id`."""
    row = await db.fetchrow(sql("travar_titular"), telefone)
    return None if row is None else LockedTitular(**row)


async def apagar_titular(db: Executor, cliente_id: int) -> None:
    """LGPD erasure: the doctor and, by cascade, their conversations' rows (migrations/0010)."""
    await db.execute(sql("apagar_titular"), cliente_id)


async def apagar_leads_sem_qualificacao(db: Executor, days: int, batch: int) -> int:
    """Retention: up to `lote` leads idle for `dias` days that never qualified deleted; how many."""
    status = await db.execute(sql("apagar_leads_sem_qualificacao"), days, batch)
    return int(status.rsplit(" ", 1)[1])
