"""reservar(): one winner however many doctors race, the loser's alternatives, the cache told at once,
at most two Postgres round trips (counted by pg_stat_statements on the service database)."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis

from julia.cache import Cache, vagas_abertas
from julia.perf.engine.counting import Meter, cost
from julia.services import reservas
from tests.service.reservas.conftest import ABERTAS_MAX, Cenario


async def test_cinquenta_medicos_disputam_uma_vaga_e_um_so_ganha(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    disputada = await cenario.vaga(dias=1)
    outras = [await cenario.vaga(dias=d) for d in (2, 3, 4, 5)]
    medicos = await cenario.medicos(50)
    resultados = await asyncio.gather(
        *(reservas.reservar(pool, cache, m, disputada, abertas_max=ABERTAS_MAX) for m in medicos)
    )
    vencedores = [m for m, r in zip(medicos, resultados, strict=True) if r.reservada]
    assert len(vencedores) == 1
    assert sum(r.nova for r in resultados) == 1  # the team is told once
    row = await pool.fetchrow("SELECT status, cliente_id, reservada_em FROM vagas WHERE id = $1", disputada)
    assert row is not None
    assert (row["status"], row["cliente_id"]) == ("reservada", vencedores[0])
    assert row["reservada_em"] is not None
    for r in resultados:
        if not r.reservada:
            assert r.motivo == reservas.TOMADA
            assert [v["id"] for v in r.alternativas] == outras[:3]  # soonest first, never the taken one


async def test_a_lista_em_cache_esquece_a_vaga_reservada_na_hora(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vaga, seguinte = await cenario.vaga(dias=1), await cenario.vaga(dias=2)
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga, seguinte]
    antes = cache.counts()["vagas"]["hits"]
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga, seguinte]
    assert cache.counts()["vagas"]["hits"] == antes + 1  # really cached
    assert (await reservas.reservar(pool, cache, await cenario.medico(), vaga, abertas_max=ABERTAS_MAX)).nova
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [seguinte]


async def test_pedir_de_novo_a_propria_vaga_nao_reserva_outra_vez(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vaga, medico = await cenario.vaga(), await cenario.medico()
    primeira = await reservas.reservar(pool, cache, medico, vaga, abertas_max=ABERTAS_MAX)
    segunda = await reservas.reservar(
        pool, cache, medico, vaga, abertas_max=ABERTAS_MAX
    )  # a retried answer asks again
    assert (primeira.reservada, primeira.nova) == (True, True)
    assert (segunda.reservada, segunda.nova) == (True, False)
    assert segunda.vaga is not None
    assert segunda.vaga["hospital"] == "Hospital Santa Luzia"


async def test_vaga_de_outra_especialidade_ou_inexistente_nao_e_reservada(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    alheia = await cenario.vaga(especialidade=cenario.outra_especialidade)
    propria = await cenario.vaga(dias=3)
    medico = await cenario.medico()
    r = await reservas.reservar(pool, cache, medico, alheia, abertas_max=ABERTAS_MAX)
    assert (r.reservada, r.motivo) == (False, reservas.OUTRA_ESPECIALIDADE)
    assert [v["id"] for v in r.alternativas] == [propria]
    r = await reservas.reservar(pool, cache, medico, 99_999_999, abertas_max=ABERTAS_MAX)
    assert (r.reservada, r.motivo, r.vaga) == (False, reservas.INEXISTENTE, None)
    sem = await cenario.pool.fetchval(
        "INSERT INTO clientes (telefone, status) VALUES ('+5511977776666', 'novo') RETURNING id"
    )
    r = await reservas.reservar(pool, cache, sem, propria, abertas_max=ABERTAS_MAX)
    assert (r.reservada, r.motivo, r.alternativas) == (False, reservas.SEM_ESPECIALIDADE, [])
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", alheia) == "aberta"


async def test_reservar_custa_no_maximo_duas_idas_ao_postgres(
    pool: asyncpg.Pool, cache: Cache, redis: aioredis.Redis, cenario: Cenario
) -> None:
    vaga = await cenario.vaga()
    await cenario.vaga(dias=2)
    ganhador, perdedor = await cenario.medico(), await cenario.medico()
    conn = await pool.acquire()
    try:
        meter = Meter(conn, redis)  # type: ignore[arg-type]
        antes = await meter.snapshot()
        assert (await reservas.reservar(pool, cache, ganhador, vaga, abertas_max=ABERTAS_MAX)).nova
        meio = await meter.snapshot()
        assert not (
            await reservas.reservar(pool, cache, perdedor, vaga, abertas_max=ABERTAS_MAX)
        ).reservada  # cache miss: 2
        depois = await meter.snapshot()
    finally:
        await pool.release(conn)
    assert cost(antes, meio).pg_statements == 1
    assert cost(meio, depois).pg_statements == 2
