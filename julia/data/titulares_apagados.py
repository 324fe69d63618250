"""titulares_apagados: what an LGPD erasure keeps about a number (julia/sql/titulares_apagados.sql)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from julia.data._executor import Executor
from julia.queries import sql


async def registrar_titular_apagado(db: Executor, telefone: str, opt_out_em: dt.datetime | None) -> None:
    """The erasure of `telefone` recorded by the hash of the number, with the opt-out date it had."""
    await db.execute(sql("registrar_titular_apagado"), telefone, opt_out_em)


async def titular_apagado(db: Executor, telefone: str) -> asyncpg.Record | None:
    """`apagado_em` and `opt_out_em` of an erased number; None when it was never erased."""
    return await db.fetchrow(sql("titular_apagado"), telefone)
