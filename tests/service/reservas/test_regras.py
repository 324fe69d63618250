"""The rules reservar_vaga enforces in its one statement (and the overlap trigger behind it), each with
the true reason a refused doctor is given, and the races: many doctors for one shift, one doctor for two
shifts at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import asyncpg
import pytest

from julia.cache import Cache, vagas_abertas
from julia.services import reservas
from tests.service.reservas.conftest import ABERTAS_MAX, Cenario


async def reservar(pool: asyncpg.Pool, cache: Cache, medico: int, vaga: int) -> reservas.Reserva:
    return await reservas.reservar(pool, cache, medico, vaga, abertas_max=ABERTAS_MAX)


async def test_vinte_medicos_disputam_uma_vaga_e_um_so_ganha(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    for _ in range(5):  # a race is a sample: a few of them
        vaga = await cenario.vaga()
        medicos = await cenario.medicos(20)
        resultados = await asyncio.gather(*(reservar(pool, cache, m, vaga) for m in medicos))
        assert sum(r.nova for r in resultados) == 1
        assert {r.motivo for r in resultados if not r.reservada} == {reservas.TOMADA}
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
    async with pool.acquire() as trava, trava.transaction():
        await trava.execute("SELECT 1 FROM vagas WHERE id = ANY($1::bigint[]) FOR UPDATE", vagas)
        tarefas = [asyncio.create_task(r) for r in reservas_]
        espera = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '-- Júlia reserves shift%'"  # the text's start
        )
        for _ in range(500):
            await trava.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction reads one snapshot
            if await trava.fetchval(espera) == len(tarefas):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(
                "the reservations never waited on the lock together: "
                f"{await trava.fetch('SELECT wait_event_type, state, left(query, 60) FROM pg_stat_activity')}"
            )
    return list(await asyncio.gather(*tarefas))


@pytest.mark.parametrize("rodadas", [10])
async def test_um_medico_disputando_duas_vagas_sobrepostas_fica_com_uma(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, rodadas: int
) -> None:
    """Two shifts at the same hours (two hospitals' night shifts of one day) asked for at the same moment
    by one doctor: the trigger serialises the two statements on the doctor's row, so at most one stands,
    and the other is told it overlaps."""
    outro_hospital = await pool.fetchval(
        "INSERT INTO hospitais (nome, cidade, estado)"
        " VALUES ('Hospital Vera Cruz', 'Campinas', 'SP') RETURNING id"
    )
    for rodada in range(rodadas):
        medico = await cenario.medico()
        a = await cenario.vaga(dias=10 + rodada)
        b = await cenario.vaga(dias=10 + rodada)
        await pool.execute("UPDATE vagas SET hospital_id = $2 WHERE id = $1", b, outro_hospital)
        ra, rb = await juntas(
            pool, [a, b], reservar(pool, cache, medico, a), reservar(pool, cache, medico, b)
        )
        assert [ra.nova, rb.nova].count(True) == 1, (ra, rb)
        perdedora = rb if ra.nova else ra
        assert perdedora.motivo == reservas.SOBREPOSTA
        held = await pool.fetchval("SELECT count(*) FROM vagas WHERE cliente_id = $1", medico)
        assert held == 1


@pytest.mark.parametrize("rodadas", [5])
async def test_um_medico_no_limite_disputando_duas_vagas_fica_com_uma(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, rodadas: int
) -> None:
    """One reservation short of the cap, two shifts on different days asked for at the same moment: each
    statement read the doctor's count before the other committed, so both passed `abertas < cap`; the
    trigger counts again once it holds the doctor's row, and the second is told of the cap."""
    for rodada in range(rodadas):
        medico = await cenario.medico()
        for dia in range(ABERTAS_MAX - 1):
            assert (await reservar(pool, cache, medico, await cenario.vaga(dias=30 + 10 * rodada + dia))).nova
        a = await cenario.vaga(dias=36 + 10 * rodada)
        b = await cenario.vaga(dias=38 + 10 * rodada)
        ra, rb = await juntas(
            pool, [a, b], reservar(pool, cache, medico, a), reservar(pool, cache, medico, b)
        )
        assert [ra.nova, rb.nova].count(True) == 1, (ra, rb)
        perdedora = rb if ra.nova else ra
        assert (perdedora.motivo, perdedora.abertas) == (reservas.LIMITE, ABERTAS_MAX)
        held = "SELECT count(*) FROM vagas WHERE cliente_id = $1 AND status = 'reservada'"
        assert await pool.fetchval(held, medico) == ABERTAS_MAX


async def test_o_plantao_noturno_cruza_a_meia_noite(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    """19:00-07:00 on day D holds the doctor until 07:00 on D+1: a 06:00-12:00 shift on D+1 overlaps it,
    a 07:00-19:00 one starts as it ends (ranges are half-open) and does not."""
    manha = await cenario.outro_periodo("06:00", "12:00")
    diurno = await cenario.outro_periodo("07:00", "19:00")
    medico = await cenario.medico()
    noite = await cenario.vaga(dias=3)
    cedo = await cenario.vaga(dias=4, periodo=manha)
    dia_seguinte = await cenario.vaga(dias=4, periodo=diurno)
    assert (await reservar(pool, cache, medico, noite)).nova
    recusada = await reservar(pool, cache, medico, cedo)
    assert (recusada.reservada, recusada.motivo) == (False, reservas.SOBREPOSTA)
    assert (await reservar(pool, cache, medico, dia_seguinte)).nova


async def test_o_gatilho_recusa_sobreposicao_escrita_por_fora_de_julia(
    pool: asyncpg.Pool, cenario: Cenario
) -> None:
    """The rule is the database's: a direct UPDATE (the business's own tools) cannot give one doctor two
    shifts at once either."""
    medico = await cenario.medico()
    a, b = await cenario.vaga(dias=6), await cenario.vaga(dias=6)
    direto = "UPDATE vagas SET status = 'reservada', cliente_id = $2, reservada_em = now() WHERE id = $1"
    await pool.execute(direto, a, medico)
    with pytest.raises(asyncpg.ExclusionViolationError, match="overlapping"):
        await pool.execute(direto, b, medico)


async def test_vaga_que_ja_comecou_nao_e_reservada_nem_oferecida(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    desde_meia_noite = await cenario.outro_periodo("00:00", "23:00")
    comecou = await cenario.vaga(dias=0, periodo=desde_meia_noite)  # today, from 00:00 in São Paulo
    ontem = await cenario.vaga(dias=-1)
    amanha = await cenario.vaga(dias=1)
    medico = await cenario.medico()
    for vaga in (comecou, ontem):
        r = await reservar(pool, cache, medico, vaga)
        assert (r.reservada, r.motivo) == (False, reservas.INICIADA)
        assert [v["id"] for v in r.alternativas] == [amanha]
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 10)] == [amanha]


async def test_cancelada_e_tomada_dizem_o_motivo_verdadeiro(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    cancelada, tomada = await cenario.vaga(dias=2), await cenario.vaga(dias=3)
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", cancelada)
    assert (await reservar(pool, cache, await cenario.medico(nome="Bruno"), tomada)).nova
    medico = await cenario.medico()
    assert (await reservar(pool, cache, medico, cancelada)).motivo == reservas.CANCELADA
    assert (await reservar(pool, cache, medico, tomada)).motivo == reservas.TOMADA


async def test_medico_inativo_ou_sem_crm_nao_reserva(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vaga = await cenario.vaga()
    novo, sem_crm = await cenario.medico(), await cenario.medico()
    await pool.execute("UPDATE clientes SET status = 'novo' WHERE id = $1", novo)
    await pool.execute("UPDATE clientes SET crm = '  ' WHERE id = $1", sem_crm)
    r = await reservar(pool, cache, novo, vaga)
    assert (r.reservada, r.motivo, r.alternativas) == (False, reservas.INATIVO, [])
    r = await reservar(pool, cache, sem_crm, vaga)
    assert (r.reservada, r.motivo, r.alternativas) == (False, reservas.SEM_CRM, [])
    assert await pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"


async def test_limite_de_reservas_aguardando_confirmacao(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    medico = await cenario.medico()
    vagas = [await cenario.vaga(dias=d) for d in range(1, ABERTAS_MAX + 3)]
    for vaga in vagas[:ABERTAS_MAX]:
        assert (await reservar(pool, cache, medico, vaga)).nova
    r = await reservar(pool, cache, medico, vagas[ABERTAS_MAX])
    assert (r.reservada, r.motivo, r.abertas) == (False, reservas.LIMITE, ABERTAS_MAX)
    assert r.explicacao() == reservas.LIMITE.format(n=ABERTAS_MAX)
    # A confirmed (filled) shift no longer waits: the doctor may reserve again.
    await pool.execute("UPDATE vagas SET status = 'preenchida' WHERE id = $1", vagas[0])
    assert (await reservar(pool, cache, medico, vagas[ABERTAS_MAX])).nova


async def test_as_alternativas_sao_do_estado_do_crm(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    tomada, em_sp, no_rio = [await cenario.vaga(dias=d) for d in (1, 2, 3)]
    rio = await pool.fetchval(
        "INSERT INTO hospitais (nome, cidade, estado) VALUES ('Hospital Y', 'Niterói', 'RJ') RETURNING id"
    )
    await pool.execute("UPDATE vagas SET hospital_id = $2 WHERE id = $1", no_rio, rio)
    assert (await reservar(pool, cache, await cenario.medico(nome="Bruno"), tomada)).nova
    perdedora = await reservar(pool, cache, await cenario.medico(), tomada)  # CRM/SP
    assert [v["id"] for v in perdedora.alternativas] == [em_sp]
