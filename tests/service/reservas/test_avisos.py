"""A reservation nobody confirmed in time goes back to open and its doctor is told, through the normal
send queue (the worker's sweep, julia/services/avisos.py). Coordinators' changes: test_admin_vagas.py."""

from __future__ import annotations

import asyncio

import asyncpg

from julia.cache import Cache, open_vagas
from julia.services import avisos
from julia.services.plantoes import describe
from julia.worker.loop import Worker
from tests.service.reservas.conftest import Scenario, avisos_de, reservada


async def test_reserva_not_confirmed_in_time_opens_again_and_the_medico_knows(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    overdue, medico = await reservada(cache, scenario, days=2)
    recent, _ = await reservada(cache, scenario, days=3)
    started, who_was = await reservada(cache, scenario, days=4)
    await pool.execute(
        "UPDATE vagas SET reservada_em = now() - interval '2 days' WHERE id = ANY($1::bigint[])",
        [overdue, started],
    )
    # A shift whose day came while unconfirmed stays with its doctor: the coordinators know if they went.
    await pool.execute("UPDATE vagas SET data_plantao = current_date - 1 WHERE id = $1", started)
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == []
    assert await avisos.expirar_reservas(pool, cache, 86_400) == 1
    linha = await pool.fetchrow("SELECT status, cliente_id, reservada_em FROM vagas WHERE id = $1", overdue)
    assert tuple(linha or ()) == ("aberta", None, None)
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [overdue]
    vaga = (await open_vagas(pool, cache, scenario.especialidade, 5))[0]
    assert await avisos_de(pool, medico) == [avisos.EXPIRED.render([describe(vaga)])]
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", recent) == "reservada"
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", started) == "reservada"
    assert await avisos_de(pool, who_was) == []
    assert await avisos.expirar_reservas(pool, cache, 86_400) == 0  # once


async def test_the_worker_sweeps_the_overdue_reservas(
    pool: asyncpg.Pool, cache: Cache, worker: Worker, scenario: Scenario
) -> None:
    vaga, medico = await reservada(cache, scenario)
    await pool.execute("UPDATE vagas SET reservada_em = now() - interval '2 days' WHERE id = $1", vaga)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(500):
            if await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta":
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await running
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"
    assert len(await avisos_de(pool, medico)) == 1
