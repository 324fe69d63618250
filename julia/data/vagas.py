"""vagas: the hospital shifts Júlia offers (julia/sql/vagas.sql)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql
from julia.relogio import hoje


@metrics.timed("buscar_vagas")
async def buscar_vagas(
    db: Executor,
    especialidade_id: int,
    desde: dt.date | None = None,
    limite: int = 10,
    *,
    estado: str | None = None,
    cidade: str | None = None,
) -> list[asyncpg.Record]:
    """Open shifts of a specialty not yet started, from `desde` (today in São Paulo) on, soonest first,
    with hospital and period; only in `estado` (a UF) and `cidade` (accents and case aside) when given."""
    return await db.fetch(sql("buscar_vagas"), especialidade_id, desde or hoje(), limite, estado, cidade)


# The trigger's rule for the cap on reservations awaiting confirmation (migrations/0024): its
# check_violation is a race lost, not a bad row.
CAP_RULE = "vagas_medico_reservas_abertas"


@metrics.timed("reservar_vaga")
async def reservar_vaga(db: Executor, vaga_id: int, medico_id: int, abertas_max: int) -> asyncpg.Record:
    """aberta -> reservada for this doctor, race-free; the row says whether it happened and, if not, why
    (see julia/sql/vagas.sql). Always one row.

    An exclusion_violation is the doctor's own other reservation, running at the same moment, that
    overlaps this shift (trigger vagas_medico_sem_sobreposicao); a check_violation of
    vagas_medico_reservas_abertas, one that took the doctor's last place under the cap (migrations/0024).
    Either had committed when the trigger raised, so the statement run again sees it and answers
    `sobreposta` or `abertas` at the cap like any other refusal."""
    try:
        row = await db.fetchrow(sql("reservar_vaga"), vaga_id, medico_id, abertas_max)
    except (asyncpg.ExclusionViolationError, asyncpg.CheckViolationError) as raced:
        if isinstance(raced, asyncpg.CheckViolationError) and raced.constraint_name != CAP_RULE:
            raise
        row = await db.fetchrow(sql("reservar_vaga"), vaga_id, medico_id, abertas_max)
    assert row is not None  # SELECT ... FROM (SELECT 1) LEFT JOIN: exactly one row
    return row


async def criar_vaga(
    db: Executor,
    hospital_id: int,
    especialidade_id: int,
    periodo_id: int,
    data_plantao: dt.date,
    valor: Decimal,
) -> asyncpg.Record:
    """The new open shift."""
    row = await db.fetchrow(sql("criar_vaga"), hospital_id, especialidade_id, periodo_id, data_plantao, valor)
    assert row is not None  # INSERT ... RETURNING returns its row
    return row


async def mudar_status_vaga(db: Executor, vaga_id: int, status: str, de: str | None) -> asyncpg.Record | None:
    """The shift with its new status; None when absent or, with `de`, when its status was no longer `de`."""
    return await db.fetchrow(sql("mudar_status_vaga"), vaga_id, status, de)


async def atualizar_vaga(db: Executor, vaga_id: int, alteracoes: Mapping[str, Any]) -> asyncpg.Record | None:
    """The shift after the patch `alteracoes` (status, valor, data_plantao), with what it was before
    (`status_antes`, `cliente_antes`, `data_antes`, `valor_antes`) and its hospital and period; None when
    absent."""
    return await db.fetchrow(sql("atualizar_vaga"), vaga_id, dict(alteracoes))


async def vagas_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the shifts the doctor holds or held, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("vagas_do_titular"), cliente_id)]


async def anonimizar_vagas_do_titular(db: Executor, cliente_id: int) -> tuple[int, int]:
    """LGPD erasure: the doctor unlinked from every shift; (released: reserved ones open again,
    anonymised: filled or cancelled ones kept without the doctor)."""
    linhas = await db.fetch(sql("anonimizar_vagas_do_titular"), cliente_id)
    liberadas = sum(1 for linha in linhas if linha["liberada"])
    return liberadas, len(linhas) - liberadas


async def expirar_reservas(db: Executor, idade_s: int, limite: int) -> list[asyncpg.Record]:
    """Reservations older than `idade_s` seconds, still unconfirmed and not yet started, reopened (at most
    `limite`); each with the doctor who held it and what describes the shift."""
    return await db.fetch(sql("expirar_reservas"), float(idade_s), limite)
