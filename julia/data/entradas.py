"""entradas: the inbound messages to answer, a lease queue (julia/data/fila.py) over the statements of
julia/sql/entrada.sql."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from julia.data._executor import Executor
from julia.data.fila import Fila, Retentativa
from julia.queries import sql


async def reivindicar_entradas(
    db: Executor, limite: int, lease_s: float, maximo: int, em_curso: Sequence[int]
) -> list[asyncpg.Record]:
    """Up to `limite` rows to answer (each doctor's oldest only), leased for `lease_s` seconds; rows past
    `maximo` tries come back as 'erro', and `em_curso` (rows this worker still runs) is never claimed."""
    return await db.fetch(sql("reivindicar_entradas"), limite, lease_s, maximo, list(em_curso))


def fila(retentativa: Retentativa) -> Fila:
    return Fila(
        "entradas",
        rotulo="entrada",
        reivindicar=reivindicar_entradas,
        adiar=sql("adiar_entrada"),
        falhar=sql("falhar_entrada"),
        renovar=sql("renovar_entrada"),
        retentativa=retentativa,
    )
