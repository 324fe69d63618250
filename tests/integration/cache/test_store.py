"""The wrapper itself: JSON get/set/delete with TTL, expiry, generations, one load per burst of misses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from julia import clock
from julia.cache import Cache, codec, keys, medico_by_id, medico_by_phone, open_vagas
from julia.queries import sql
from tests.integration.cache.conftest import Factory
from tests.support.cache import cache_de

MISSES = 100


async def test_get_set_delete_round_trip_json_with_a_ttl(redis: aioredis.Redis, cache: Cache) -> None:
    valor = {"nome": "Júlia", "itens": [1, 2.5, None, True], "aninhado": {"a": "b"}}
    assert await cache.put("julia:teste:rt", valor, ttl=30)
    assert await cache.get("julia:teste:rt") == valor
    assert 0 < await redis.pttl("julia:teste:rt") <= 30_000
    assert await cache.put("julia:teste:padrao", [1])
    assert await redis.ttl("julia:teste:padrao") == cache.ttl_default
    assert await cache.delete("julia:teste:rt", "julia:teste:padrao")
    assert await cache.get("julia:teste:rt") is None
    general = cache.counts()["geral"]
    assert general == {**general, "hits": 1.0, "misses": 1.0, "errors": 0.0}


def test_values_keep_the_types_the_data_layer_returns() -> None:
    valor = {
        "data": dt.date(2026, 11, 25),
        "hora": dt.time(19, 30),
        "quando": dt.datetime(2026, 11, 25, 3, 4, 5, 678, tzinfo=dt.UTC),
        "valor": Decimal("1500.00"),
        "preferencias": {"v": "x", "$": 1, "lista": [Decimal("0.10"), None, "texto"]},
    }
    assert codec.decode(codec.encode(valor)) == valor
    assert str(codec.decode(codec.encode(Decimal("1500.00")))) == "1500.00"


async def test_entries_expire_with_their_kinds_ttl(
    pool: asyncpg.Pool, redis: aioredis.Redis, factory: Factory
) -> None:
    cache = cache_de(redis, cache_ttl_medico=1)
    medico = await factory.medico()
    key = keys.medico_by_id(medico["id"]).valor
    first = await medico_by_id(pool, cache, medico["id"])
    assert 0 < await redis.pttl(key) <= 1000
    assert await medico_by_id(pool, cache, medico["id"]) == first
    assert cache.counts()["medico"]["loads"] == 1

    await asyncio.sleep(1.1)

    assert not await redis.exists(key)
    assert await medico_by_id(pool, cache, medico["id"]) == first
    assert cache.counts()["medico"]["loads"] == 2


async def test_a_generation_bump_hides_every_old_entry_of_its_namespace(
    pool: asyncpg.Pool, redis: aioredis.Redis, cache: Cache, factory: Factory
) -> None:
    esp = await factory.especialidade()
    await factory.vaga(esp)
    for limit in (1, 2, 3):
        await open_vagas(pool, cache, esp, limit)
    old_ones = [keys.vagas(esp, clock.today(), limit).valor for limit in (1, 2, 3)]
    assert await redis.exists(*old_ones) == 3

    await cache.invalidate("vagas", keys.vagas_generation(esp))

    assert await redis.exists(*old_ones) == 3  # still stored: hidden by the generation, not deleted
    for limit in (1, 2, 3):
        await open_vagas(pool, cache, esp, limit)
    assert cache.counts()["vagas"]["hits"] == 0
    assert cache.counts()["vagas"]["loads"] == 6


async def test_a_lost_generation_key_hides_its_values_instead_of_resurrecting_them(
    pool: asyncpg.Pool, redis: aioredis.Redis, cache: Cache, factory: Factory
) -> None:
    """Its TTL ran out, maxmemory evicted it, Redis restarted: values stored under it must not match."""
    medico = await factory.medico()
    key = keys.medico_by_id(medico["id"])
    await medico_by_id(pool, cache, medico["id"])
    await redis.delete(key.generation)

    await medico_by_id(pool, cache, medico["id"])

    assert await redis.exists(key.generation)  # recreated with the reloaded value
    assert (cache.counts()["medico"]["hits"], cache.counts()["medico"]["loads"]) == (0, 2)


async def test_a_load_that_raced_a_write_lands_under_a_dead_generation(cache: Cache) -> None:
    """The concurrent-miss race: a loader read Postgres before a write committed and stores after it."""
    key = keys.Key("julia:teste:{corrida}:v", "julia:teste:{corrida}:gen")
    read_the_database = asyncio.Event()
    may_write = asyncio.Event()

    async def slow_loader() -> str:
        read_the_database.set()
        await may_write.wait()
        return "antes da escrita"

    async def new_loader() -> str:
        return "depois da escrita"

    race = asyncio.create_task(cache.read("geral", key, 60, slow_loader))
    await read_the_database.wait()
    await cache.invalidate("geral", key.generation)  # the writer commits, then bumps
    may_write.set()
    assert await race == "antes da escrita"  # its own caller asked before the write: fine

    assert await cache.read("geral", key, 60, new_loader) == "depois da escrita"
    assert await cache.read("geral", key, 60, new_loader) == "depois da escrita"


async def _calls(pool: asyncpg.Pool, nome: str, *example: object) -> int:
    """Executions of a named statement so far, from pg_stat_statements (matched by the id EXPLAIN gives)."""
    plan = await pool.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql(nome)}", *example)
    query_id = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Query Identifier"]
    calls: int = await pool.fetchval(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE queryid = $1 AND toplevel"
        " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        query_id,
    )
    return calls


async def test_a_hundred_concurrent_misses_query_postgres_once(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    medico = await factory.medico()
    antes = await _calls(pool, "buscar_medico_por_telefone", medico["telefone"])

    # Postgres answers only once all hundred have missed: the table is locked until then, so the burst
    # is truly concurrent however fast the first load would otherwise be.
    async with pool.acquire() as lock, lock.transaction():
        await lock.execute("LOCK TABLE clientes IN ACCESS EXCLUSIVE MODE")
        reads = asyncio.gather(*(medico_by_phone(pool, cache, medico["telefone"]) for _ in range(MISSES)))
        async with asyncio.timeout(30):
            # The misses are counted inside the cache under test: there is no event to await instead.
            while cache.counts()["medico"]["misses"] < MISSES:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    results = await reads

    assert await _calls(pool, "buscar_medico_por_telefone", medico["telefone"]) - antes == 1
    assert all(r == results[0] and r is not results[0] for r in results[1:])
    assert results[0] is not None
    assert results[0]["id"] == medico["id"]
    stats = cache.counts()["medico"]
    assert (stats["misses"], stats["coalesced"], stats["loads"]) == (MISSES, MISSES - 1, 1)
