"""reservar(): one winner however many doctors race, the loser's alternatives, the cache told at once,
at most two Postgres round trips (counted by pg_stat_statements on the service database)."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis

from julia.cache import Cache, open_vagas
from julia.perf.engine.counting import Meter, cost
from julia.services import reservas
from tests.service.reservas.conftest import OPEN_MAX, Scenario


async def test_fifty_medicos_contest_one_vaga_and_only_one_wins(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    contested = await scenario.vaga(days=1)
    the_others = [await scenario.vaga(days=d) for d in (2, 3, 4, 5)]
    medicos = await scenario.medicos(50)
    results = await asyncio.gather(
        *(reservas.reserve(pool, cache, m, contested, abertas_max=OPEN_MAX) for m in medicos)
    )
    winners = [m for m, r in zip(medicos, results, strict=True) if r.reservada]
    assert len(winners) == 1
    assert sum(r.nova for r in results) == 1  # the team is told once
    row = await pool.fetchrow("SELECT status, cliente_id, reservada_em FROM vagas WHERE id = $1", contested)
    assert row is not None
    assert (row["status"], row["cliente_id"]) == ("reservada", winners[0])
    assert row["reservada_em"] is not None
    for r in results:
        if not r.reservada:
            assert r.motivo == reservas.TAKEN
            assert [v["id"] for v in r.alternatives] == the_others[:3]  # soonest first, never the taken one


async def test_the_cached_list_forgets_the_reserved_vaga_at_once(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    vaga, following = await scenario.vaga(days=1), await scenario.vaga(days=2)
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga, following]
    antes = cache.counts()["vagas"]["hits"]
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga, following]
    assert cache.counts()["vagas"]["hits"] == antes + 1  # really cached
    assert (await reservas.reserve(pool, cache, await scenario.medico(), vaga, abertas_max=OPEN_MAX)).nova
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [following]


async def test_asking_again_for_ones_own_vaga_does_not_reserve_it_twice(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    vaga, medico = await scenario.vaga(), await scenario.medico()
    first_one = await reservas.reserve(pool, cache, medico, vaga, abertas_max=OPEN_MAX)
    second = await reservas.reserve(
        pool, cache, medico, vaga, abertas_max=OPEN_MAX
    )  # a retried answer asks again
    assert (first_one.reservada, first_one.nova) == (True, True)
    assert (second.reservada, second.nova) == (True, False)
    assert second.vaga is not None
    assert second.vaga["hospital"] == "Hospital Santa Luzia"


async def test_vaga_of_another_especialidade_or_nonexistent_is_not_reserved(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    foreign = await scenario.vaga(especialidade=scenario.other_especialidade)
    own = await scenario.vaga(days=3)
    medico = await scenario.medico()
    r = await reservas.reserve(pool, cache, medico, foreign, abertas_max=OPEN_MAX)
    assert (r.reservada, r.motivo) == (False, reservas.OTHER_ESPECIALIDADE)
    assert [v["id"] for v in r.alternatives] == [own]
    r = await reservas.reserve(pool, cache, medico, 99_999_999, abertas_max=OPEN_MAX)
    assert (r.reservada, r.motivo, r.vaga) == (False, reservas.NONEXISTENT, None)
    without = await scenario.pool.fetchval(
        "INSERT INTO clientes (telefone, status) VALUES ('+5511977776666', 'novo') RETURNING id"
    )
    r = await reservas.reserve(pool, cache, without, own, abertas_max=OPEN_MAX)
    assert (r.reservada, r.motivo, r.alternatives) == (False, reservas.WITHOUT_ESPECIALIDADE, [])
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", foreign) == "aberta"


async def test_reserving_costs_at_most_two_round_trips_to_postgres(
    pool: asyncpg.Pool, cache: Cache, redis: aioredis.Redis, scenario: Scenario
) -> None:
    vaga = await scenario.vaga()
    await scenario.vaga(days=2)
    winner, loser = await scenario.medico(), await scenario.medico()
    conn = await pool.acquire()
    try:
        meter = Meter(conn, redis)  # type: ignore[arg-type]
        antes = await meter.snapshot()
        assert (await reservas.reserve(pool, cache, winner, vaga, abertas_max=OPEN_MAX)).nova
        middle = await meter.snapshot()
        assert not (
            await reservas.reserve(pool, cache, loser, vaga, abertas_max=OPEN_MAX)
        ).reservada  # cache miss: 2
        depois = await meter.snapshot()
    finally:
        await pool.release(conn)
    assert cost(antes, middle).pg_statements == 1
    assert cost(middle, depois).pg_statements == 2
