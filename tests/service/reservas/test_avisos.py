"""A reservation nobody confirmed in time goes back to open and its doctor is told, through the normal
send queue (the worker's sweep, julia/services/avisos.py). Coordinators' changes: test_admin_vagas.py."""

from __future__ import annotations

import asyncio

import asyncpg

from julia.cache import Cache, vagas_abertas
from julia.services import avisos
from julia.services.plantoes import descrever
from julia.worker.loop import Worker
from tests.service.reservas.conftest import Cenario, avisos_de, reservada


async def test_reserva_nao_confirmada_a_tempo_volta_a_ficar_aberta_e_o_medico_sabe(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vencida, medico = await reservada(cache, cenario, dias=2)
    recente, _ = await reservada(cache, cenario, dias=3)
    comecou, quem_foi = await reservada(cache, cenario, dias=4)
    await pool.execute(
        "UPDATE vagas SET reservada_em = now() - interval '2 days' WHERE id = ANY($1::bigint[])",
        [vencida, comecou],
    )
    # A shift whose day came while unconfirmed stays with its doctor: the coordinators know if they went.
    await pool.execute("UPDATE vagas SET data_plantao = current_date - 1 WHERE id = $1", comecou)
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == []
    assert await avisos.expirar_reservas(pool, cache, 86_400) == 1
    linha = await pool.fetchrow("SELECT status, cliente_id, reservada_em FROM vagas WHERE id = $1", vencida)
    assert tuple(linha or ()) == ("aberta", None, None)
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vencida]
    vaga = (await vagas_abertas(pool, cache, cenario.especialidade, 5))[0]
    assert await avisos_de(pool, medico) == [avisos.EXPIRADA.render([descrever(vaga)])]
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", recente) == "reservada"
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", comecou) == "reservada"
    assert await avisos_de(pool, quem_foi) == []
    assert await avisos.expirar_reservas(pool, cache, 86_400) == 0  # once


async def test_o_worker_varre_as_reservas_vencidas(
    pool: asyncpg.Pool, cache: Cache, worker: Worker, cenario: Cenario
) -> None:
    vaga, medico = await reservada(cache, cenario)
    await pool.execute("UPDATE vagas SET reservada_em = now() - interval '2 days' WHERE id = $1", vaga)
    parar = asyncio.Event()
    rodando = asyncio.create_task(worker.run(parar))
    try:
        for _ in range(500):
            if await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta":
                break
            await asyncio.sleep(0.02)
    finally:
        parar.set()
        await rodando
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"
    assert len(await avisos_de(pool, medico)) == 1
