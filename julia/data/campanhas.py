"""campanhas: the campaigns, created with their fila_mensagens rows (julia/sql/campanhas.sql)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from julia.data._executor import Connection, Executor
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class CreatedCampanha:
    """criar_campanha's row."""

    criada: bool  # False: the id existed, nothing was queued
    enfileiradas: int


@dataclass(frozen=True, slots=True)
class Campanha:
    """ler_campanha's row: a campaign as it was created, and how many messages it queued."""

    id: str
    tag: str | None
    especialidade_id: int | None
    estado: str | None
    texto: str
    modelo: str | None
    inicio: dt.datetime
    por_minuto: int
    created_at: dt.datetime
    enfileiradas: int


@dataclass(frozen=True, slots=True)
class CampanhaReport:
    """relatorio_campanhas's row: one campaign's messages by state and what came of the sent ones."""

    campanha_id: str
    enfileiradas: int
    pendentes: int
    enviadas: int
    entregues: int
    lidas: int
    nao_entregues: int
    falhas: int
    canceladas: int
    respondidas: int
    opt_out: int


@metrics.timed("criar_campanha")
async def criar_campanha(
    conn: Connection,
    *,
    id: str,
    tag: str | None,
    especialidade_id: int | None,
    estado: str | None,
    texto: str,
    inicio: dt.datetime,
    por_minuto: int,
    hora_inicio: int,
    hora_fim: int,
    prioridade: int,
    footer: str,
    modelo: str | None = None,
    modelo_parametros: Sequence[str] = (),
) -> CreatedCampanha:
    """The campaign and its queue rows in one statement: `criada` (false: the id existed) and
    `enfileiradas`. Prepared afresh each time, like buscar_medicos_por_tag: a cached statement may fall
    back to one generic plan after five runs, and the right plan depends on which filters are set (a rare
    tag wants idx_clientes_tags, a specialty a scan). One more round trip, once per campaign. `modelo`:
    the approved template the campaign sends, `modelo_parametros` the doctor's fields it takes, in order."""
    statement = await conn.prepare(sql("criar_campanha"))
    row = await statement.fetchrow(
        id,
        tag,
        especialidade_id,
        estado,
        texto,
        inicio,
        por_minuto,
        hora_inicio,
        hora_fim,
        prioridade,
        footer,
        modelo,
        list(modelo_parametros),
    )
    assert row is not None  # a bare SELECT of two aggregates always returns its row
    return CreatedCampanha(**row)


async def ler_campanha(db: Executor, campanha_id: str) -> Campanha | None:
    row = await db.fetchrow(sql("ler_campanha"), campanha_id)
    return None if row is None else Campanha(**row)


async def campanhas_recentes(db: Executor, days: int) -> list[str]:
    return [row["id"] for row in await db.fetch(sql("campanhas_recentes"), days)]


@metrics.timed("relatorio_campanhas")
async def relatorio_campanhas(db: Executor, campanha_ids: Sequence[str]) -> dict[str, CampanhaReport]:
    """Counts per campaign id; a campaign that queued nothing has no entry."""
    rows = await db.fetch(sql("relatorio_campanhas"), list(campanha_ids))
    return {row["campanha_id"]: CampanhaReport(**row) for row in rows}
