"""fila_mensagens: the messages to send, a lease queue (julia/data/fila.py) over the statements of
julia/sql/fila_mensagens.sql."""

from __future__ import annotations

import asyncpg

from julia.data._executor import Executor
from julia.data.fila import Fila, Retentativa
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("reivindicar_mensagens")
async def reivindicar_mensagens(db: Executor, limite: int, lease_s: float) -> list[asyncpg.Record]:
    """Claim up to `limite` due messages, leased for `lease_s` seconds (see julia/sql/fila_mensagens.sql)."""
    return await db.fetch(sql("reivindicar_mensagens"), limite, float(lease_s))


def fila(retentativa: Retentativa) -> Fila:
    return Fila(
        "fila_mensagens",
        rotulo="fila_mensagens",
        reivindicar=reivindicar_mensagens,
        adiar=sql("adiar_mensagem"),
        falhar=sql("falhar_mensagem"),
        retentativa=retentativa,
    )


async def adiar_fila_semeada(db: Executor) -> int:
    """Make the seed's queued messages wait a day (`julia dev` only); how many were put off."""
    status = await db.execute(sql("adiar_fila_semeada"))
    return int(status.split()[-1])
