"""`seed()`: fill an empty, migrated database with synthetic doctors and everything around them.

Python draws what needs per-row decisions (generate.py, medicos.py) and streams it with COPY while it
draws; the big tables are expanded set-based in Postgres (expand.py). Everything happens in one
transaction, so a failed seed leaves the database empty rather than half-filled; VACUUM (ANALYZE) and the
checksum run after the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from julia.errors import SeedError
from julia.queries import sql
from julia.seed import expand, generate, medicos
from julia.seed.bare import bare
from julia.seed.checksum import checksum
from julia.seed.generate import COLUMNS, Plan, Row
from julia.seed.medicos import Conversas
from julia.seed.progress import Phases, ticking
from julia.seed.reference import Reference, load_reference

TABLES = (
    "especialidades",
    "periodos",
    "hospitais",
    "clientes",
    "conversations",
    "interacoes",
    "vagas",
    "fila_mensagens",
    "handoffs",
)
MAX_SEED = 2**58  # expand.salt() multiplies it by 16 and Postgres hashes take a bigint


@dataclass(frozen=True)
class SeedSummary:
    doctors: int
    seed: int
    today: dt.date
    rows: Mapping[str, int]  # table -> rows loaded
    seconds: float
    checksum: str  # same doctors + seed + today, same checksum
    phases: Mapping[str, float]  # phase -> seconds, to see what dominates

    def line(self) -> str:
        tables = ", ".join(f"{table} {count:,}" for table, count in self.rows.items())
        return (
            f"seeded {self.doctors:,} doctors (seed {self.seed}, today {self.today}) "
            f"in {self.seconds:.1f} s: {tables}; checksum {self.checksum}"
        )


def check_doctors(doctors: int) -> None:
    """The one rule for a doctor count, which commands also check before they start any server."""
    if not 0 < doctors <= generate.MAX_DOCTORS:
        raise SeedError(f"--doctors must be between 1 and {generate.MAX_DOCTORS:,}, not {doctors:,}")


async def seed(
    conn: asyncpg.Connection,
    doctors: int,
    *,
    seed: int = 42,
    today: dt.date | None = None,
    progress: bool = False,
) -> SeedSummary:
    """Seed `doctors` synthetic doctors into the empty database of `conn`; SeedError says why not."""
    check_doctors(doctors)
    if not 0 <= seed < MAX_SEED:
        raise SeedError(f"--seed must be between 0 and {MAX_SEED:,}, not {seed:,}")
    plan = Plan(doctors, seed, today or dt.date.today())
    ref = load_reference()
    phases = Phases(progress)
    started = time.perf_counter()
    # COPY is binary and needs a binary jsonb codec (version byte 1, then the JSON text generate.py made).
    # conn is left with the project's own text codec (julia.db), whatever it had before.
    await conn.set_type_codec("jsonb", encoder=_jsonb, decoder=_unjsonb, schema="pg_catalog", format="binary")
    try:
        async with conn.transaction():
            await conn.execute(sql("seed_sessao"))
            if await conn.fetchval(sql("seed_vazio")):
                raise SeedError("the database already has doctors, conversations or shifts: use an empty one")
            await _load(conn, plan, ref, phases)
    finally:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    with phases.phase("vacuum"):
        await conn.execute(sql("seed_vacuum"))
    with phases.phase("checksum"):
        rows, digest = await checksum(conn)
    return SeedSummary(doctors, seed, plan.today, rows, time.perf_counter() - started, digest, phases.seconds)


async def _load(conn: asyncpg.Connection, plan: Plan, ref: Reference, phases: Phases) -> None:
    async with bare(conn, TABLES, phases):
        await _fill(conn, plan, ref, phases)
    await conn.fetch(sql("seed_setval"))


async def _fill(conn: asyncpg.Connection, plan: Plan, ref: Reference, phases: Phases) -> None:
    await _copy(conn, phases, "especialidades", generate.especialidades(ref), len(ref.especialidades))
    await _copy(conn, phases, "periodos", generate.periodos(ref), len(ref.periodos))
    await _copy(conn, phases, "hospitais", generate.hospitais(plan, ref), plan.hospitais)
    conversas = Conversas([], [])
    await _copy(conn, phases, "clientes", medicos.clientes(plan, ref, conversas), plan.doctors)
    await _copy(conn, phases, "conversations", conversas.conversations, len(conversas.conversations))
    await _copy(conn, phases, "handoffs", conversas.handoffs, len(conversas.handoffs))
    medicos_per_especialidade = {
        r["especialidade_id"]: r["ids"] for r in await conn.fetch(sql("seed_medicos_por_especialidade"))
    }
    await _copy(conn, phases, "vagas", generate.vagas(plan, ref, medicos_per_especialidade), plan.vagas)
    await expand.interacoes(conn, plan, ref, phases)
    await expand.queue(conn, plan, ref, phases)


def _jsonb(value: str) -> bytes:
    return b"\x01" + value.encode()


def _unjsonb(data: bytes) -> object:
    return json.loads(data[1:])


async def _copy(
    conn: asyncpg.Connection, phases: Phases, table: str, rows: Iterable[Row], total: int
) -> None:
    with phases.phase(table, total) as bar:
        await conn.copy_records_to_table(table, records=ticking(rows, bar), columns=COLUMNS[table])
