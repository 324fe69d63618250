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
from julia.cache import Cache, medico_by_id, medico_by_phone, open_vagas, static_context
from julia.cache.listener import CANAL, Listener
from tests.service.reservas.conftest import Scenario
from tests.support.cache import cache_de
from tests.support.waiting import ate


@pytest.fixture
async def listener(services: servers.Servers, pool: asyncpg.Pool, cache: Cache) -> AsyncIterator[Listener]:
    o = Listener(db.with_database(services.database_url, "julia_servico"), cache, reconnect_s=0.3, ping_s=1.0)
    async with o.running():
        await asyncio.wait_for(o.listening_now.wait(), 10)
        yield o


async def test_the_triggers_publish_one_notice_per_statement(
    services: servers.Servers, pool: asyncpg.Pool, scenario: Scenario
) -> None:
    conn = await db.connect(db.with_database(services.database_url, "julia_servico"))
    avisos: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await conn.add_listener(CANAL, lambda _c, _p, _n, payload: avisos.put_nowait(json.loads(str(payload))))
    try:
        vaga = await scenario.vaga()
        medico = await scenario.medico()
        telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
        await pool.execute("UPDATE clientes SET telefone = '+5511955554444' WHERE id = $1", medico)
        await pool.execute(
            "UPDATE vagas SET especialidade_id = $2 WHERE id = $1", vaga, scenario.other_especialidade
        )
        await pool.execute("UPDATE clientes SET status = 'ativo' WHERE false")  # no row: no message
        # Columns no cache holds: no message (the first mirrored message stores the Chatwoot contact).
        await pool.execute(
            "UPDATE clientes SET chatwoot_contact_id = 77, updated_at = now() WHERE id = $1", medico
        )
        many = await scenario.medicos(250)
        await pool.execute("UPDATE clientes SET tags = '{x}' WHERE id = ANY($1::bigint[])", many)
        await pool.execute("DELETE FROM vagas WHERE id = $1", vaga)
        received_ones = [await asyncio.wait_for(avisos.get(), 5) for _ in range(7)]
    finally:
        await conn.close()
    assert received_ones[0] == {"tabela": "vagas", "especialidades": [scenario.especialidade]}
    assert received_ones[1] == {"tabela": "clientes", "medicos": [{"id": medico, "telefone": telefone}]}
    assert received_ones[2]["tabela"] == "clientes"
    assert sorted(m["telefone"] for m in received_ones[2]["medicos"]) == sorted([telefone, "+5511955554444"])  # type: ignore[attr-defined]
    assert received_ones[3] == {
        "tabela": "vagas",
        "especialidades": sorted([scenario.especialidade, scenario.other_especialidade]),
    }
    assert received_ones[4] == {"tabela": "clientes", "todos": True}  # the INSERT of 250 doctors
    assert received_ones[5] == {"tabela": "clientes", "todos": True}
    assert received_ones[6] == {"tabela": "vagas", "especialidades": [scenario.other_especialidade]}


async def test_two_hundred_medicos_in_one_statement_arrive_in_two_parts(
    services: servers.Servers, pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """200 doctors in one statement: their ids and phones passed a NOTIFY's 8000 bytes in one payload, and
    the statement failed (migrations/0019 sends parts of at most 100)."""
    conn = await db.connect(db.with_database(services.database_url, "julia_servico"))
    avisos: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CANAL, lambda _c, _p, _n, payload: avisos.put_nowait(str(payload)))
    try:
        medicos = await scenario.medicos(200)
        parts = [await asyncio.wait_for(avisos.get(), 5) for _ in range(2)]
        await pool.execute("SELECT pg_notify($1, 'fim')", CANAL)
        assert await asyncio.wait_for(avisos.get(), 5) == "fim"  # nothing else came before it
    finally:
        await conn.close()
    assert all(len(part.encode()) < 8000 for part in parts)
    lidas = [json.loads(part) for part in parts]
    assert [(aviso["tabela"], len(aviso["medicos"])) for aviso in lidas] == [("clientes", 100)] * 2
    assert sorted(m["id"] for aviso in lidas for m in aviso["medicos"]) == sorted(medicos)


async def test_direct_update_of_two_hundred_medicos_forgets_each(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, listener: Listener
) -> None:
    """Both parts of the notification are applied: not one of the 200 is served from its old entry."""
    medicos = await scenario.medicos(200)

    async def names() -> set[str]:
        return {(await medico_by_id(pool, cache, m) or {}).get("primeiro_nome", "") for m in medicos}

    async def em_cache() -> bool:  # once the INSERT's own notifications have been applied
        await names()
        antes = cache.counts()["medico"]["hits"]
        await names()
        return cache.counts()["medico"]["hits"] - antes == len(medicos)

    await ate(em_cache)
    await pool.execute("UPDATE clientes SET primeiro_nome = 'Outro' WHERE id = ANY($1::bigint[])", medicos)

    async def all_forgotten() -> bool:
        return await names() == {"Outro"}

    await ate(all_forgotten)


async def test_direct_update_on_vagas_leaves_the_cached_list(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, listener: Listener
) -> None:
    vaga, other = await scenario.vaga(days=1), await scenario.vaga(days=2)

    async def ids() -> list[int]:
        return [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)]

    async def em_cache() -> bool:  # once the INSERTs' own notifications have been applied
        antes = cache.counts()["vagas"]["hits"]
        return await ids() == [vaga, other] and cache.counts()["vagas"]["hits"] > antes

    await ate(em_cache)
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)  # the business's tool

    async def without_the_cancelled() -> bool:
        return await ids() == [other]

    await ate(without_the_cancelled)


async def test_direct_update_on_clientes_forgets_medico_phone_and_context(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, listener: Listener
) -> None:
    medico = await scenario.medico(nome="Ana")
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert (await medico_by_phone(pool, cache, telefone) or {})["id"] == medico
    assert (await static_context(pool, cache, medico) or {})["primeiro_nome"] == "Ana"
    await pool.execute(
        "UPDATE clientes SET telefone = '+5511955554444', primeiro_nome = 'Ana Paula' WHERE id = $1", medico
    )

    async def all_new() -> bool:
        return (
            await medico_by_phone(pool, cache, telefone) is None
            and (await medico_by_phone(pool, cache, "+5511955554444") or {}).get("id") == medico
            and (await medico_by_id(pool, cache, medico) or {}).get("primeiro_nome") == "Ana Paula"
            and (await static_context(pool, cache, medico) or {}).get("primeiro_nome") == "Ana Paula"
        )

    await ate(all_new)


async def test_dropped_listener_reconnects_and_drops_what_it_may_have_missed(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, listener: Listener
) -> None:
    vaga = await scenario.vaga()
    medico = await scenario.medico(nome="Ana")
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga]
    assert (await medico_by_id(pool, cache, medico) or {})["primeiro_nome"] == "Ana"
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", listener.pid)
    # Changes committed while nobody listens: their notifications are lost for good.
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)
    await pool.execute("UPDATE clientes SET primeiro_nome = 'Beatriz' WHERE id = $1", medico)

    async def reconnected() -> bool:
        return listener.connections == 2 and listener.listening_now.is_set()

    await ate(reconnected)
    assert await open_vagas(pool, cache, scenario.especialidade, 5) == []  # the flush caught it
    assert (await medico_by_id(pool, cache, medico) or {})["primeiro_nome"] == "Beatriz"
    # And the new connection hears the next change.
    nova = await scenario.vaga(days=4)

    async def heard() -> bool:
        return [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [nova]

    await ate(heard)


async def test_unreadable_aviso_does_not_stop_the_listener(
    pool: asyncpg.Pool, cache: Cache, scenario: Scenario, listener: Listener
) -> None:
    for garbage in ("não é json", '{"tabela": "hospitais"}', '{"tabela": "vagas"}'):
        await pool.execute("SELECT pg_notify($1, $2)", CANAL, garbage)
    vaga = await scenario.vaga()
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga]
    await pool.execute("UPDATE vagas SET status = 'cancelada' WHERE id = $1", vaga)

    async def still_listens() -> bool:
        return await open_vagas(pool, cache, scenario.especialidade, 5) == []

    await ate(still_listens)
    assert listener.connections == 1


async def test_without_redis_the_listener_is_not_ready_and_tries_again(
    services: servers.Servers, pool: asyncpg.Pool
) -> None:
    """The flush after connecting is what makes missed notifications harmless: until Redis takes it, the
    listener keeps retrying rather than claim it listens."""
    fora = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05)  # nothing listens there
    try:
        o = Listener(
            db.with_database(services.database_url, "julia_servico"), cache_de(fora), reconnect_s=0.05
        )
        async with o.running():
            await asyncio.sleep(0.5)
            assert not o.listening_now.is_set()
            assert o.connections == 0
    finally:
        await fora.aclose()
