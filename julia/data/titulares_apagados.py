"""titulares_apagados: what an LGPD erasure keeps about a number (julia/sql/titulares_apagados.sql)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from julia.data._executor import Executor
from julia.queries import sql


@dataclass(frozen=True, slots=True)
class ErasedTitular:
    """titular_apagado's row: what an erasure kept about a number."""

    apagado_em: dt.datetime
    opt_out_em: dt.datetime | None  # None: the doctor had not opted out


async def registrar_titular_apagado(db: Executor, telefone: str, opt_out_em: dt.datetime | None) -> None:
    """The erasure of `telefone` recorded by the hash of the number, with the opt-out date it had."""
    await db.execute(sql("registrar_titular_apagado"), telefone, opt_out_em)


async def titular_apagado(db: Executor, telefone: str) -> ErasedTitular | None:
    """None when the number was never erased."""
    row = await db.fetchrow(sql("titular_apagado"), telefone)
    return None if row is None else ErasedTitular(**row)
