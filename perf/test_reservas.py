"""Reservations (issue 14): the race, one reservation alone, and how fast a direct write reaches the cache.

reserva_disputa_1000medicos   1,000 doctors of one specialty ask at once for 10 open shifts (100 per
                              shift), through julia's reservar() on a pool of DB_POOL_MAX connections:
                              exactly 10 winners, 0 double bookings (asserted, and hard-gated as counts).
                              A sample is one doctor's reservation, pool wait included (what a doctor
                              waits under contention); a few rounds, the shifts reopened untimed between.
reserva_sem_disputa           one reservation at a time, paired with SELECT 1: its cost alone. Counted on
                              the servers: 1 Postgres statement (the reservation) and 1 Redis command (the
                              generation bump).
invalidacao_update_direto     a direct `UPDATE vagas` on a connection of its own (the business's tool, not
                              julia) until the specialty's shift-list generation in Redis has changed: the
                              trigger's NOTIFY, the listener (julia.cache.ouvinte) and the bump. Target:
                              p99 under 50 ms on this machine.

The rows this module makes (a specialty, its 10 shifts, 1,000 doctors) are removed at the end, so the
writers that run after it (message path, webhook load) see the seed as it was built.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import db
from julia.cache import Cache, keys
from julia.cache.ouvinte import Ouvinte
from julia.perf import counting, servico
from julia.perf.context import Perf
from julia.perf.harness import measure, measure_paired
from julia.perf.results import Bench
from julia.worker import reservas

DOCTORS = 1_000
SHIFTS = 10
ROUNDS = 3
ALONE_SAMPLES = 400
INVALIDATIONS = 200
MAX_SECONDS = 5.0
COUNTED = 20

MAKE_DOCTORS = (
    "INSERT INTO clientes (telefone, primeiro_nome, especialidade_id, status)"
    " SELECT '+999' || lpad(g::text, 8, '0'), 'Perf ' || g, $1, 'ativo'"  # +999: no seeded phone"
    " FROM generate_series(1, $2) g RETURNING id"
)
MAKE_SHIFTS = (
    "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)"
    " SELECT (SELECT min(id) FROM hospitais), $1, (SELECT min(id) FROM periodos), current_date + g, 1500"
    " FROM generate_series(1, $2) g RETURNING id"
)
# Not julia's SQL: only a benchmark wants a reserved shift open again.
REOPEN = (
    "UPDATE vagas SET status = 'aberta', cliente_id = NULL, reservada_em = NULL WHERE id = ANY($1::bigint[])"
)


@dataclass
class Bancada:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    cache: Cache
    especialidade: int
    medicos: list[int]
    vagas: list[int]


@pytest.fixture(scope="module")
async def bancada(perf: Perf, conn: asyncpg.Connection) -> AsyncIterator[Bancada]:
    settings = servico.settings(perf.dsn, perf.services.redis_url)
    pool = await db.create_pool(perf.dsn, min_size=settings.db_pool_max, max_size=settings.db_pool_max)
    redis = aioredis.Redis.from_url(perf.services.redis_url)
    cache = Cache(redis, settings)
    especialidade = await conn.fetchval(
        "INSERT INTO especialidades (nome) VALUES ('Perf reservas') RETURNING id"
    )
    medicos = [r["id"] for r in await conn.fetch(MAKE_DOCTORS, especialidade, DOCTORS)]
    vagas = [r["id"] for r in await conn.fetch(MAKE_SHIFTS, especialidade, SHIFTS)]
    try:
        yield Bancada(pool, redis, cache, especialidade, medicos, vagas)
    finally:
        await conn.execute("DELETE FROM vagas WHERE especialidade_id = $1", especialidade)
        await conn.execute("DELETE FROM clientes WHERE especialidade_id = $1", especialidade)
        await conn.execute("DELETE FROM especialidades WHERE id = $1", especialidade)
        await pool.close()
        await redis.aclose()


async def test_reserva_disputa(perf: Perf, conn: asyncpg.Connection, bancada: Bancada) -> None:
    b = bancada
    samples: list[float] = []
    winners_per_round: list[int] = []
    double_bookings = 0

    async def one(medico: int, vaga: int) -> tuple[float, bool]:
        start = time.perf_counter_ns()
        r = await reservas.reservar(b.pool, b.cache, medico, vaga)
        return (time.perf_counter_ns() - start) / 1e6, r.nova

    for _ in range(ROUNDS):
        await conn.execute(REOPEN, b.vagas)
        outcomes = await asyncio.gather(*(one(m, b.vagas[i % SHIFTS]) for i, m in enumerate(b.medicos)))
        samples += [ms for ms, _ in outcomes]
        winners_per_round.append(sum(won for _, won in outcomes))
        held = await conn.fetch(
            "SELECT id, cliente_id FROM vagas WHERE id = ANY($1::bigint[]) AND status = 'reservada'", b.vagas
        )
        double_bookings += sum(won for _, won in outcomes) - len(held)
    assert winners_per_round == [SHIFTS] * ROUNDS  # exactly one winner per shift, every round
    assert double_bookings == 0
    perf.run.add(
        Bench(
            f"reserva_disputa_{DOCTORS}medicos",
            "reservas",
            "floor_pg_select1",
            samples,
            {
                "winners": SHIFTS,
                "double_bookings": double_bookings,
                "doctors": DOCTORS,
                "shifts": SHIFTS,
                "rounds": ROUNDS,
                "pool_size": b.pool.get_max_size(),
            },
        )
    )


async def test_reserva_sem_disputa(perf: Perf, conn: asyncpg.Connection, bancada: Bancada) -> None:
    b = bancada
    vaga = b.vagas[0]
    await conn.execute(REOPEN, b.vagas)

    async def reserve(i: int) -> None:
        r = await reservas.reservar(b.pool, b.cache, b.medicos[i % DOCTORS], vaga)
        assert r.nova

    async def reopen(i: int) -> None:
        await conn.execute(REOPEN, [vaga])

    paired = await measure_paired(
        reserve,
        lambda i: conn.fetchval("SELECT 1"),
        samples=ALONE_SAMPLES,
        warmup=20,
        max_seconds=MAX_SECONDS,
        after=reopen,
    )
    meter = counting.Meter(conn, b.redis)
    costs = []
    for i in range(COUNTED):
        before = await meter.snapshot()
        await reserve(i)
        after = await meter.snapshot()
        costs.append(counting.cost(before, after))
        await reopen(i)
    perf.run.add(
        Bench(
            "reserva_sem_disputa",
            "reservas",
            "floor_pg_select1",
            paired.samples_ms,
            counting.typical(costs),
            paired.ratios,
        )
    )


async def test_invalidacao_update_direto(perf: Perf, conn: asyncpg.Connection, bancada: Bancada) -> None:
    b = bancada
    geracao = keys.geracao_vagas(b.especialidade)
    ouvinte = Ouvinte(perf.dsn, b.cache)
    async with ouvinte.rodando():
        await asyncio.wait_for(ouvinte.escutando.wait(), 30)
        negocio = await perf.connect()  # the business's tool: a connection that is not julia's

        async def update_until_gone(i: int) -> None:
            anterior = await b.redis.get(geracao)
            await negocio.execute("UPDATE vagas SET valor = valor WHERE id = $1", b.vagas[i % SHIFTS])
            limite = time.monotonic() + 5
            while await b.redis.get(geracao) == anterior:
                if time.monotonic() > limite:
                    raise AssertionError("the change never reached the cache")
                await asyncio.sleep(0.0002)

        try:
            samples = await measure(
                update_until_gone, samples=INVALIDATIONS, warmup=10, max_seconds=MAX_SECONDS
            )
        finally:
            await negocio.close()
    perf.run.add(
        Bench(
            "invalidacao_update_direto",
            "reservas",
            "floor_pg_select1",
            samples,
            {"reconnections": ouvinte.conexoes - 1},
        )
    )
