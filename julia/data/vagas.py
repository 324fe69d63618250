from __future__ import annotations

import datetime as dt

import asyncpg

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("buscar_vagas")
async def buscar_vagas(
    db: Executor, especialidade_id: int, desde: dt.date | None = None, limite: int = 10
) -> list[asyncpg.Record]:
    """Open shifts of a specialty from `desde` (today) on, soonest first, with hospital and period."""
    return await db.fetch(sql("buscar_vagas"), especialidade_id, desde or dt.date.today(), limite)


@metrics.timed("reservar_vaga")
async def reservar_vaga(db: Executor, vaga_id: int, medico_id: int) -> asyncpg.Record:
    """aberta -> reservada for this doctor, race-free; the row says whether it happened and, if not, why
    (see julia/sql/vagas_escrita.sql). Always one row."""
    row = await db.fetchrow(sql("reservar_vaga"), vaga_id, medico_id)
    assert row is not None  # SELECT ... FROM (SELECT 1) LEFT JOIN: exactly one row
    return row
