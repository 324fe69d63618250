"""The rules reservar_vaga enforces in its one statement (and the overlap trigger behind it), each with
the true reason a refused doctor is given, and the races: many doctors for one shift, one doctor for two
shifts at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import asyncpg
import pytest

from julia.cache import Cache, open_vagas
from julia.services import reservas
from tests.service.reservas.conftest import OPEN_MAX, Scenario


async def reserve(pool: asyncpg.Pool, cache: Cache, medico: int, vaga: int) -> reservas.Reserva:
    return await reservas.reserve(pool, cache, medico, vaga, abertas_max=OPEN_MAX)


async def test_twenty_medicos_contest_one_vaga_and_only_one_wins(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    for _ in range(5):  # a race is a sample: a few of them
        vaga = await scenario.vaga()
        medicos = await scenario.medicos(20)
        results = await asyncio.gather(*(reserve(pool, cache, m, vaga) for m in medicos))
        assert sum(r.nova for r in results) == 1
        assert {r.motivo for r in results if not r.reservada} == {reservas.TAKEN}
        assert (
            await pool.fetchval("SELECT count(*) FROM vagas WHERE id = $1 AND cliente_id IS NOT NULL", vaga)
            == 1
        )


async def juntas(
    pool: asyncpg.Pool, vagas: list[int], *reservas_: Coroutine[Any, Any, reservas.Reserva]
) -> list[reservas.Reserva]:
    """Run the reservations truly at the same time: another transaction holds the shifts' rows until every
    statement has taken its snapshot and is waiting for the lock, then lets them all go at once (without
    this, one asyncio task's statement usually commits before the other's starts, and nothing races)."""
    async with pool.acquire() as lock, lock.transaction():
        await lock.execute("SELECT 1 FROM vagas WHERE id = ANY($1::bigint[]) FOR UPDATE", vagas)
        tarefas = [asyncio.create_task(r) for r in reservas_]
        wait = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '-- Júlia reserves shift%'"  # the text's start
        )
        for _ in range(500):
            await lock.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction reads one snapshot
            if await lock.fetchval(wait) == len(tarefas):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(
                "the reservations never waited on the lock together: "
                f"{await lock.fetch('SELECT wait_event_type, state, left(query, 60) FROM pg_stat_activity')}"
            )
    return list(await asyncio.gather(*tarefas))


@pytest.mark.parametrize("rounds", [10])
async def test_a_medico_contesting_two_overlapping_vagas_keeps_one(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, rounds: int
) -> None:
    """Two shifts at the same hours (two hospitals' night shifts of one day) asked for at the same moment
    by one doctor: the trigger serialises the two statements on the doctor's row, so at most one stands,
    and the other is told it overlaps."""
    other_hospital = await pool.fetchval(
        "INSERT INTO hospitais (nome, cidade, estado)"
        " VALUES ('Hospital Vera Cruz', 'Campinas', 'SP') RETURNING id"
    )
    for this_round in range(rounds):
        medico = await scenario.medico()
        a = await scenario.vaga(days=10 + this_round)
        b = await scenario.vaga(days=10 + this_round)
        await pool.execute("UPDATE vagas SET hospital_id = $2 WHERE id = $1", b, other_hospital)
        ra, rb = await juntas(pool, [a, b], reserve(pool, cache, medico, a), reserve(pool, cache, medico, b))
        assert [ra.nova, rb.nova].count(True) == 1, (ra, rb)
        losing = rb if ra.nova else ra
        assert losing.motivo == reservas.OVERLAPPING
        held = await pool.fetchval("SELECT count(*) FROM vagas WHERE cliente_id = $1", medico)
        assert held == 1


@pytest.mark.parametrize("rounds", [5])
async def test_a_medico_at_the_limit_contesting_two_vagas_keeps_one(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, rounds: int
) -> None:
    """One reservation short of the cap, two shifts on different days asked for at the same moment: each
    statement read the doctor's count before the other committed, so both passed `abertas < cap`; the
    trigger counts again once it holds the doctor's row, and the second is told of the cap."""
    for this_round in range(rounds):
        medico = await scenario.medico()
        for day in range(OPEN_MAX - 1):
            assert (
                await reserve(pool, cache, medico, await scenario.vaga(days=30 + 10 * this_round + day))
            ).nova
        a = await scenario.vaga(days=36 + 10 * this_round)
        b = await scenario.vaga(days=38 + 10 * this_round)
        ra, rb = await juntas(pool, [a, b], reserve(pool, cache, medico, a), reserve(pool, cache, medico, b))
        assert [ra.nova, rb.nova].count(True) == 1, (ra, rb)
        losing = rb if ra.nova else ra
        assert (losing.motivo, losing.abertas) == (reservas.LIMIT, OPEN_MAX)
        held = "SELECT count(*) FROM vagas WHERE cliente_id = $1 AND status = 'reservada'"
        assert await pool.fetchval(held, medico) == OPEN_MAX


async def test_the_overnight_plantao_crosses_midnight(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    """19:00-07:00 on day D holds the doctor until 07:00 on D+1: a 06:00-12:00 shift on D+1 overlaps it,
    a 07:00-19:00 one starts as it ends (ranges are half-open) and does not."""
    morning = await scenario.other_period("06:00", "12:00")
    daytime = await scenario.other_period("07:00", "19:00")
    medico = await scenario.medico()
    night = await scenario.vaga(days=3)
    early = await scenario.vaga(days=4, periodo=morning)
    next_day = await scenario.vaga(days=4, periodo=daytime)
    assert (await reserve(pool, cache, medico, night)).nova
    refused = await reserve(pool, cache, medico, early)
    assert (refused.reservada, refused.motivo) == (False, reservas.OVERLAPPING)
    assert (await reserve(pool, cache, medico, next_day)).nova


async def test_the_trigger_refuses_an_overlap_written_outside_julia(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """The rule is the database's: a direct UPDATE (the business's own tools) cannot give one doctor two
    shifts at once either."""
    medico = await scenario.medico()
    a, b = await scenario.vaga(days=6), await scenario.vaga(days=6)
    direct = "UPDATE vagas SET status = 'reservada', cliente_id = $2, reservada_em = now() WHERE id = $1"
    await pool.execute(direct, a, medico)
    with pytest.raises(asyncpg.ExclusionViolationError, match="overlapping"):
        await pool.execute(direct, b, medico)


async def test_vaga_already_started_is_neither_reserved_nor_offered(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    since_midnight = await scenario.other_period("00:00", "23:00")
    started = await scenario.vaga(days=0, periodo=since_midnight)  # today, from 00:00 in São Paulo
    yesterday = await scenario.vaga(days=-1)
    tomorrow = await scenario.vaga(days=1)
    medico = await scenario.medico()
    for vaga in (started, yesterday):
        r = await reserve(pool, cache, medico, vaga)
        assert (r.reservada, r.motivo) == (False, reservas.STARTED)
        assert [v["id"] for v in r.alternatives] == [tomorrow]
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 10)] == [tomorrow]


async def test_cancelled_and_taken_say_the_true_reason(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    cancelled, taken = await scenario.vaga(days=2), await scenario.vaga(days=3)
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", cancelled)
    assert (await reserve(pool, cache, await scenario.medico(nome="Bruno"), taken)).nova
    medico = await scenario.medico()
    assert (await reserve(pool, cache, medico, cancelled)).motivo == reservas.CANCELLED
    assert (await reserve(pool, cache, medico, taken)).motivo == reservas.TAKEN


async def test_inactive_or_crm_less_medico_does_not_reserve(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    vaga = await scenario.vaga()
    new, without_crm = await scenario.medico(), await scenario.medico()
    await pool.execute("UPDATE clientes SET status = 'novo' WHERE id = $1", new)
    await pool.execute("UPDATE clientes SET crm = '  ' WHERE id = $1", without_crm)
    r = await reserve(pool, cache, new, vaga)
    assert (r.reservada, r.motivo, r.alternatives) == (False, reservas.INACTIVE, [])
    r = await reserve(pool, cache, without_crm, vaga)
    assert (r.reservada, r.motivo, r.alternatives) == (False, reservas.WITHOUT_CRM, [])
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"


async def test_limit_of_reservas_awaiting_confirmation(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    medico = await scenario.medico()
    vagas = [await scenario.vaga(days=d) for d in range(1, OPEN_MAX + 3)]
    for vaga in vagas[:OPEN_MAX]:
        assert (await reserve(pool, cache, medico, vaga)).nova
    r = await reserve(pool, cache, medico, vagas[OPEN_MAX])
    assert (r.reservada, r.motivo, r.abertas) == (False, reservas.LIMIT, OPEN_MAX)
    assert r.explanation() == reservas.LIMIT.format(n=OPEN_MAX)
    # A confirmed (filled) shift no longer waits: the doctor may reserve again.
    await pool.execute("UPDATE vagas SET status = 'preenchida' WHERE id = $1", vagas[0])
    assert (await reserve(pool, cache, medico, vagas[OPEN_MAX])).nova


async def test_the_alternatives_are_from_the_crm_state(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    taken, em_sp, no_rio = [await scenario.vaga(days=d) for d in (1, 2, 3)]
    rio = await pool.fetchval(
        "INSERT INTO hospitais (nome, cidade, estado) VALUES ('Hospital Y', 'Niterói', 'RJ') RETURNING id"
    )
    await pool.execute("UPDATE vagas SET hospital_id = $2 WHERE id = $1", no_rio, rio)
    assert (await reserve(pool, cache, await scenario.medico(nome="Bruno"), taken)).nova
    losing = await reserve(pool, cache, await scenario.medico(), taken)  # CRM/SP
    assert [v["id"] for v in losing.alternatives] == [em_sp]
