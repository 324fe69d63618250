"""The big tables, expanded set-based inside Postgres (named SQL in julia/sql/seed.sql).

At a million doctors interacoes holds tens of millions of rows. Generating them in Python and shipping
them through COPY costs a Python loop iteration, an encode and a decode per row (minutes); an
`INSERT ... SELECT` over generate_series, with pseudo-randomness from hashint8extended(key, seed), builds
the same rows in the server at C speed with nothing on the wire, and is just as deterministic.
"""

from __future__ import annotations

import asyncpg

from julia.queries import sql
from julia.seed.generate import Plan
from julia.seed.progress import Phases
from julia.seed.reference import Reference

SLICES = 40  # interacoes statements (progress ticks); each is one slice of the conversations


def salt(plan: Plan, stream: int) -> int:
    """A distinct hash seed per use, so the draws of different columns and tables are independent."""
    return plan.seed * 16 + stream


async def interacoes(conn: asyncpg.Connection, plan: Plan, ref: Reference, phases: Phases) -> None:
    with phases.phase("plano"):
        await conn.execute(sql("seed_plano_criar"))
        await conn.execute(sql("seed_plano"), plan.base, salt(plan, 1))
        await conn.execute(sql("seed_plano_analisar"))  # temp tables get no autovacuum: plan the slices right
        total = await conn.fetchval(sql("seed_plano_total"))
        slices = await conn.fetch(sql("seed_plano_fatias"), SLICES)
    mask = plan.rng("whatsapp").getrandbits(62)
    texts = (ref.messages["medico"], ref.messages["julia"], ref.messages["humano"])
    with phases.phase("interacoes", total) as bar:
        for fatia in slices:
            await conn.execute(sql("seed_interacoes"), salt(plan, 2), mask, *texts, fatia["de"], fatia["ate"])
            bar.update(fatia["linhas"])


async def queue(conn: asyncpg.Connection, plan: Plan, ref: Reference, phases: Phases) -> None:
    with phases.phase("fila_mensagens"):
        texts, errors = ref.messages["fila"], ref.messages["erro"]
        await conn.execute(sql("seed_fila"), plan.base, salt(plan, 3), texts, errors)
