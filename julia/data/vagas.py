"""vagas: the hospital shifts Júlia offers (julia/sql/vagas.sql)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from julia.clock import today
from julia.data._executor import Executor, fetch_one
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class OpenVaga:
    """buscar_vagas's row: an open shift as Júlia offers it (the cache stores it as a JSON object in this
    order: julia/cache/vagas.py)."""

    id: int
    data_plantao: dt.date
    valor: Decimal
    hospital: str
    cidade: str
    estado: str  # the UF
    periodo: str
    hora_inicio: dt.time
    hora_fim: dt.time


@dataclass(frozen=True, slots=True)
class ReservaAttempt:
    """reservar_vaga's row: whether the reservation happened and, if not, why. The shift's and the doctor's
    columns are None when that row is absent."""

    reservada: bool
    existe: bool  # the shift exists
    especialidade_id: int | None
    especialidade_medico: int | None
    status_medico: str | None
    crm_medico: str | None
    tem_crm: bool
    abertas: int  # the doctor's reservations awaiting confirmation
    iniciada: bool
    sobreposta: bool  # the doctor holds a shift overlapping it
    status_antes: str | None
    ja_era_dele: bool | None  # the doctor already held it
    data_plantao: dt.date | None
    valor: Decimal | None
    hospital: str | None
    cidade: str | None
    estado: str | None
    periodo: str | None
    hora_inicio: dt.time | None
    hora_fim: dt.time | None


@dataclass(frozen=True, slots=True)
class Vaga:
    """A shift's row: criar_vaga's and mudar_status_vaga's."""

    id: int
    hospital_id: int
    especialidade_id: int
    periodo_id: int
    data_plantao: dt.date
    valor: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class UpdatedVaga(Vaga):
    """atualizar_vaga's row: the shift after the edit, what it was before (`*_antes`), its hospital and
    period."""

    cliente_id: int | None
    reservada_em: dt.datetime | None
    status_antes: str
    cliente_antes: int | None
    data_antes: dt.date
    valor_antes: Decimal
    hospital: str
    cidade: str
    estado: str
    periodo: str
    hora_inicio: dt.time
    hora_fim: dt.time


@dataclass(frozen=True, slots=True)
class ExpiredReserva:
    """expirar_reservas's row: a reopened shift, the doctor who held it and what describes the shift."""

    id: int
    especialidade_id: int
    cliente_id: int
    data_plantao: dt.date
    valor: Decimal
    hospital: str
    cidade: str
    estado: str
    periodo: str
    hora_inicio: dt.time
    hora_fim: dt.time


@metrics.timed("buscar_vagas")
async def buscar_vagas(
    db: Executor,
    especialidade_id: int,
    desde: dt.date | None = None,
    limit: int = 10,
    *,
    estado: str | None = None,
    cidade: str | None = None,
) -> list[OpenVaga]:
    """Open shifts of a specialty not yet started, from `desde` (today in São Paulo) on, soonest first,
    with hospital and period; only in `estado` (a UF) and `cidade` (accents and case aside) when given."""
    rows = await db.fetch(sql("buscar_vagas"), especialidade_id, desde or today(), limit, estado, cidade)
    return [OpenVaga(**row) for row in rows]


# The trigger's rule for the cap on reservations awaiting confirmation (migrations/0024): its
# check_violation is a race lost, not a bad row.
CAP_RULE = "vagas_medico_reservas_abertas"


@metrics.timed("reservar_vaga")
async def reservar_vaga(db: Executor, vaga_id: int, medico_id: int, abertas_max: int) -> ReservaAttempt:
    """aberta -> reservada for this doctor, race-free; the row says whether it happened and, if not, why
    (see julia/sql/vagas.sql). Always one row.

    An exclusion_violation is the doctor's own other reservation, running at the same moment, that
    overlaps this shift (trigger vagas_medico_sem_sobreposicao); a check_violation of
    vagas_medico_reservas_abertas, one that took the doctor's last place under the cap (migrations/0024).
    Either had committed when the trigger raised, so the statement run again sees it and answers
    `sobreposta` or `abertas` at the cap like any other refusal."""
    try:  # SELECT ... FROM (SELECT 1) LEFT JOIN: exactly one row
        row = await fetch_one(db, sql("reservar_vaga"), vaga_id, medico_id, abertas_max)
    except (asyncpg.ExclusionViolationError, asyncpg.CheckViolationError) as raced:
        if isinstance(raced, asyncpg.CheckViolationError) and raced.constraint_name != CAP_RULE:
            raise
        row = await fetch_one(db, sql("reservar_vaga"), vaga_id, medico_id, abertas_max)
    return ReservaAttempt(**row)


async def criar_vaga(
    db: Executor,
    hospital_id: int,
    especialidade_id: int,
    periodo_id: int,
    data_plantao: dt.date,
    valor: Decimal,
) -> Vaga:
    """The new open shift."""
    row = await fetch_one(
        db, sql("criar_vaga"), hospital_id, especialidade_id, periodo_id, data_plantao, valor
    )
    return Vaga(**row)


async def mudar_status_vaga(db: Executor, vaga_id: int, status: str, de: str | None) -> Vaga | None:
    """The shift with its new status; None when absent or, with `de`, when its status was no longer `de`."""
    row = await db.fetchrow(sql("mudar_status_vaga"), vaga_id, status, de)
    return None if row is None else Vaga(**row)


async def atualizar_vaga(db: Executor, vaga_id: int, changes: Mapping[str, Any]) -> UpdatedVaga | None:
    """The shift after the patch `changes` (status, valor, data_plantao); None when absent."""
    row = await db.fetchrow(sql("atualizar_vaga"), vaga_id, dict(changes))
    return None if row is None else UpdatedVaga(**row)


async def vagas_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the shifts the doctor holds or held, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("vagas_do_titular"), cliente_id)]


async def anonimizar_vagas_do_titular(db: Executor, cliente_id: int) -> tuple[int, int]:
    """LGPD erasure: the doctor unlinked from every shift; (released: reserved ones open again,
    anonymised: filled or cancelled ones kept without the doctor)."""
    rows = await db.fetch(sql("anonimizar_vagas_do_titular"), cliente_id)
    released = sum(1 for row in rows if row["liberada"])
    return released, len(rows) - released


async def expirar_reservas(db: Executor, age_s: int, limit: int) -> list[ExpiredReserva]:
    """Reservations older than `age_s` seconds, still unconfirmed and not yet started, reopened (at most
    `limite`)."""
    rows = await db.fetch(sql("expirar_reservas"), float(age_s), limit)
    return [ExpiredReserva(**row) for row in rows]
