"""The change feed: writes made straight in Postgres (not through julia) reach the cache through the
triggers' NOTIFY and the listener; a dropped listener reconnects and flushes what it may have missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia import db, servers
from julia.cache import Cache, contexto_estatico, medico_por_id, medico_por_telefone, vagas_abertas
from julia.cache.ouvinte import CANAL, Ouvinte
from tests.service.reservas.conftest import Cenario
from tests.support.cache import cache_de
from tests.support.espera import ate


@pytest.fixture
async def ouvinte(services: servers.Servers, pool: asyncpg.Pool, cache: Cache) -> AsyncIterator[Ouvinte]:
    o = Ouvinte(db.with_database(services.database_url, "julia_servico"), cache, reconectar_s=0.3, ping_s=1.0)
    async with o.rodando():
        await asyncio.wait_for(o.escutando.wait(), 10)
        yield o


async def test_os_gatilhos_publicam_um_aviso_por_comando(
    services: servers.Servers, pool: asyncpg.Pool, cenario: Cenario
) -> None:
    conn = await db.connect(db.with_database(services.database_url, "julia_servico"))
    avisos: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await conn.add_listener(CANAL, lambda _c, _p, _n, payload: avisos.put_nowait(json.loads(str(payload))))
    try:
        vaga = await cenario.vaga()
        medico = await cenario.medico()
        telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
        await pool.execute("UPDATE clientes SET telefone = '+5511955554444' WHERE id = $1", medico)
        await pool.execute(
            "UPDATE vagas SET especialidade_id = $2 WHERE id = $1", vaga, cenario.outra_especialidade
        )
        await pool.execute("UPDATE clientes SET status = 'ativo' WHERE false")  # no row: no message
        # Columns no cache holds: no message (the first mirrored message stores the Chatwoot contact).
        await pool.execute(
            "UPDATE clientes SET chatwoot_contact_id = 77, updated_at = now() WHERE id = $1", medico
        )
        muitos = await cenario.medicos(250)
        await pool.execute("UPDATE clientes SET tags = '{x}' WHERE id = ANY($1::bigint[])", muitos)
        await pool.execute("DELETE FROM vagas WHERE id = $1", vaga)
        recebidos = [await asyncio.wait_for(avisos.get(), 5) for _ in range(7)]
    finally:
        await conn.close()
    assert recebidos[0] == {"tabela": "vagas", "especialidades": [cenario.especialidade]}
    assert recebidos[1] == {"tabela": "clientes", "medicos": [{"id": medico, "telefone": telefone}]}
    assert recebidos[2]["tabela"] == "clientes"
    assert sorted(m["telefone"] for m in recebidos[2]["medicos"]) == sorted([telefone, "+5511955554444"])  # type: ignore[attr-defined]
    assert recebidos[3] == {
        "tabela": "vagas",
        "especialidades": sorted([cenario.especialidade, cenario.outra_especialidade]),
    }
    assert recebidos[4] == {"tabela": "clientes", "todos": True}  # the INSERT of 250 doctors
    assert recebidos[5] == {"tabela": "clientes", "todos": True}
    assert recebidos[6] == {"tabela": "vagas", "especialidades": [cenario.outra_especialidade]}


async def test_duzentos_medicos_num_comando_chegam_em_duas_partes(
    services: servers.Servers, pool: asyncpg.Pool, cenario: Cenario
) -> None:
    """200 doctors in one statement: their ids and phones passed a NOTIFY's 8000 bytes in one payload, and
    the statement failed (migrations/0019 sends parts of at most 100)."""
    conn = await db.connect(db.with_database(services.database_url, "julia_servico"))
    avisos: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CANAL, lambda _c, _p, _n, payload: avisos.put_nowait(str(payload)))
    try:
        medicos = await cenario.medicos(200)
        partes = [await asyncio.wait_for(avisos.get(), 5) for _ in range(2)]
        await pool.execute("SELECT pg_notify($1, 'fim')", CANAL)
        assert await asyncio.wait_for(avisos.get(), 5) == "fim"  # nothing else came before it
    finally:
        await conn.close()
    assert all(len(parte.encode()) < 8000 for parte in partes)
    lidas = [json.loads(parte) for parte in partes]
    assert [(aviso["tabela"], len(aviso["medicos"])) for aviso in lidas] == [("clientes", 100)] * 2
    assert sorted(m["id"] for aviso in lidas for m in aviso["medicos"]) == sorted(medicos)


async def test_update_direto_de_duzentos_medicos_esquece_cada_um(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, ouvinte: Ouvinte
) -> None:
    """Both parts of the notification are applied: not one of the 200 is served from its old entry."""
    medicos = await cenario.medicos(200)

    async def nomes() -> set[str]:
        return {(await medico_por_id(pool, cache, m) or {}).get("primeiro_nome", "") for m in medicos}

    async def em_cache() -> bool:  # once the INSERT's own notifications have been applied
        await nomes()
        antes = cache.counts()["medico"]["hits"]
        await nomes()
        return cache.counts()["medico"]["hits"] - antes == len(medicos)

    await ate(em_cache)
    await pool.execute("UPDATE clientes SET primeiro_nome = 'Outro' WHERE id = ANY($1::bigint[])", medicos)

    async def todos_esquecidos() -> bool:
        return await nomes() == {"Outro"}

    await ate(todos_esquecidos)


async def test_update_direto_em_vagas_some_da_lista_em_cache(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, ouvinte: Ouvinte
) -> None:
    vaga, outra = await cenario.vaga(dias=1), await cenario.vaga(dias=2)

    async def ids() -> list[int]:
        return [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)]

    async def em_cache() -> bool:  # once the INSERTs' own notifications have been applied
        antes = cache.counts()["vagas"]["hits"]
        return await ids() == [vaga, outra] and cache.counts()["vagas"]["hits"] > antes

    await ate(em_cache)
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)  # the business's tool

    async def sem_a_cancelada() -> bool:
        return await ids() == [outra]

    await ate(sem_a_cancelada)


async def test_update_direto_em_clientes_esquece_medico_telefone_e_contexto(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, ouvinte: Ouvinte
) -> None:
    medico = await cenario.medico(nome="Ana")
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert (await medico_por_telefone(pool, cache, telefone) or {})["id"] == medico
    assert (await contexto_estatico(pool, cache, medico) or {})["primeiro_nome"] == "Ana"
    await pool.execute(
        "UPDATE clientes SET telefone = '+5511955554444', primeiro_nome = 'Ana Paula' WHERE id = $1", medico
    )

    async def tudo_novo() -> bool:
        return (
            await medico_por_telefone(pool, cache, telefone) is None
            and (await medico_por_telefone(pool, cache, "+5511955554444") or {}).get("id") == medico
            and (await medico_por_id(pool, cache, medico) or {}).get("primeiro_nome") == "Ana Paula"
            and (await contexto_estatico(pool, cache, medico) or {}).get("primeiro_nome") == "Ana Paula"
        )

    await ate(tudo_novo)


async def test_ouvinte_derrubado_reconecta_e_esvazia_o_que_pode_ter_perdido(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, ouvinte: Ouvinte
) -> None:
    vaga = await cenario.vaga()
    medico = await cenario.medico(nome="Ana")
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga]
    assert (await medico_por_id(pool, cache, medico) or {})["primeiro_nome"] == "Ana"
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", ouvinte.pid)
    # Changes committed while nobody listens: their notifications are lost for good.
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)
    await pool.execute("UPDATE clientes SET primeiro_nome = 'Beatriz' WHERE id = $1", medico)

    async def reconectou() -> bool:
        return ouvinte.conexoes == 2 and ouvinte.escutando.is_set()

    await ate(reconectou)
    assert await vagas_abertas(pool, cache, cenario.especialidade, 5) == []  # the flush caught it
    assert (await medico_por_id(pool, cache, medico) or {})["primeiro_nome"] == "Beatriz"
    # And the new connection hears the next change.
    nova = await cenario.vaga(dias=4)

    async def ouviu() -> bool:
        return [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [nova]

    await ate(ouviu)


async def test_aviso_ilegivel_nao_para_o_ouvinte(
    pool: asyncpg.Pool, cache: Cache, cenario: Cenario, ouvinte: Ouvinte
) -> None:
    for lixo in ("não é json", '{"tabela": "hospitais"}', '{"tabela": "vagas"}'):
        await pool.execute("SELECT pg_notify($1, $2)", CANAL, lixo)
    vaga = await cenario.vaga()
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga]
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)

    async def ainda_ouve() -> bool:
        return await vagas_abertas(pool, cache, cenario.especialidade, 5) == []

    await ate(ainda_ouve)
    assert ouvinte.conexoes == 1


async def test_sem_redis_o_ouvinte_nao_se_declara_pronto_e_tenta_de_novo(
    services: servers.Servers, pool: asyncpg.Pool
) -> None:
    """The flush after connecting is what makes missed notifications harmless: until Redis takes it, the
    listener keeps retrying rather than claim it listens."""
    fora = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05)  # nothing listens there
    try:
        o = Ouvinte(
            db.with_database(services.database_url, "julia_servico"), cache_de(fora), reconectar_s=0.05
        )
        async with o.rodando():
            await asyncio.sleep(0.5)
            assert not o.escutando.is_set()
            assert o.conexoes == 0
    finally:
        await fora.aclose()
