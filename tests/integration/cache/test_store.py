"""The wrapper itself: JSON get/set/delete with TTL, expiry, generations, one load per burst of misses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from julia.cache import Cache, codec, keys, medico_por_id, medico_por_telefone, vagas_abertas
from julia.queries import sql
from tests.integration.cache.conftest import Fabrica
from tests.support.cache import cache_de

MISSES = 100


async def test_obter_guardar_remover_round_trip_json_with_a_ttl(redis: aioredis.Redis, cache: Cache) -> None:
    valor = {"nome": "Júlia", "itens": [1, 2.5, None, True], "aninhado": {"a": "b"}}
    assert await cache.put("julia:teste:rt", valor, ttl=30)
    assert await cache.get("julia:teste:rt") == valor
    assert 0 < await redis.pttl("julia:teste:rt") <= 30_000
    assert await cache.put("julia:teste:padrao", [1])
    assert await redis.ttl("julia:teste:padrao") == cache.ttl_default
    assert await cache.delete("julia:teste:rt", "julia:teste:padrao")
    assert await cache.get("julia:teste:rt") is None
    geral = cache.counts()["geral"]
    assert geral == {**geral, "hits": 1.0, "misses": 1.0, "errors": 0.0}


def test_values_keep_the_types_the_data_layer_returns() -> None:
    valor = {
        "data": dt.date(2026, 11, 25),
        "hora": dt.time(19, 30),
        "quando": dt.datetime(2026, 11, 25, 3, 4, 5, 678, tzinfo=dt.UTC),
        "valor": Decimal("1500.00"),
        "preferencias": {"v": "x", "$": 1, "lista": [Decimal("0.10"), None, "texto"]},
    }
    assert codec.decodificar(codec.codificar(valor)) == valor
    assert str(codec.decodificar(codec.codificar(Decimal("1500.00")))) == "1500.00"


async def test_entries_expire_with_their_kinds_ttl(
    pool: asyncpg.Pool, redis: aioredis.Redis, fabrica: Fabrica
) -> None:
    cache = cache_de(redis, cache_ttl_medico=1)
    medico = await fabrica.medico()
    chave = keys.medico_por_id(medico["id"]).valor
    primeiro = await medico_por_id(pool, cache, medico["id"])
    assert 0 < await redis.pttl(chave) <= 1000
    assert await medico_por_id(pool, cache, medico["id"]) == primeiro
    assert cache.counts()["medico"]["loads"] == 1

    await asyncio.sleep(1.1)

    assert not await redis.exists(chave)
    assert await medico_por_id(pool, cache, medico["id"]) == primeiro
    assert cache.counts()["medico"]["loads"] == 2


async def test_a_generation_bump_hides_every_old_entry_of_its_namespace(
    pool: asyncpg.Pool, redis: aioredis.Redis, cache: Cache, fabrica: Fabrica
) -> None:
    esp = await fabrica.especialidade()
    await fabrica.vaga(esp)
    for limite in (1, 2, 3):
        await vagas_abertas(pool, cache, esp, limite)
    antigas = [keys.vagas(esp, dt.date.today(), limite).valor for limite in (1, 2, 3)]
    assert await redis.exists(*antigas) == 3

    await cache.invalidate("vagas", keys.geracao_vagas(esp))

    assert await redis.exists(*antigas) == 3  # still stored: hidden by the generation, not deleted
    for limite in (1, 2, 3):
        await vagas_abertas(pool, cache, esp, limite)
    assert cache.counts()["vagas"]["hits"] == 0
    assert cache.counts()["vagas"]["loads"] == 6


async def test_a_lost_generation_key_hides_its_values_instead_of_resurrecting_them(
    pool: asyncpg.Pool, redis: aioredis.Redis, cache: Cache, fabrica: Fabrica
) -> None:
    """Its TTL ran out, maxmemory evicted it, Redis restarted: values stored under it must not match."""
    medico = await fabrica.medico()
    chave = keys.medico_por_id(medico["id"])
    await medico_por_id(pool, cache, medico["id"])
    await redis.delete(chave.geracao)

    await medico_por_id(pool, cache, medico["id"])

    assert await redis.exists(chave.geracao)  # recreated before the reload
    assert (cache.counts()["medico"]["hits"], cache.counts()["medico"]["loads"]) == (0, 2)


async def test_a_load_that_raced_a_write_lands_under_a_dead_generation(cache: Cache) -> None:
    """The concurrent-miss race: a loader read Postgres before a write committed and stores after it."""
    chave = keys.Chave("julia:teste:{corrida}:v", "julia:teste:{corrida}:gen")
    leu_o_banco = asyncio.Event()
    pode_gravar = asyncio.Event()

    async def loader_lento() -> str:
        leu_o_banco.set()
        await pode_gravar.wait()
        return "antes da escrita"

    async def loader_novo() -> str:
        return "depois da escrita"

    corrida = asyncio.create_task(cache.read("geral", chave, 60, loader_lento))
    await leu_o_banco.wait()
    await cache.invalidate("geral", chave.geracao)  # the writer commits, then bumps
    pode_gravar.set()
    assert await corrida == "antes da escrita"  # its own caller asked before the write: fine

    assert await cache.read("geral", chave, 60, loader_novo) == "depois da escrita"
    assert await cache.read("geral", chave, 60, loader_novo) == "depois da escrita"


async def _chamadas(pool: asyncpg.Pool, nome: str, *exemplo: object) -> int:
    """Executions of a named statement so far, from pg_stat_statements (matched by the id EXPLAIN gives)."""
    plano = await pool.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql(nome)}", *exemplo)
    query_id = (json.loads(plano) if isinstance(plano, str) else plano)[0]["Query Identifier"]
    calls: int = await pool.fetchval(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE queryid = $1 AND toplevel"
        " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        query_id,
    )
    return calls


async def test_a_hundred_concurrent_misses_query_postgres_once(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    medico = await fabrica.medico()
    antes = await _chamadas(pool, "buscar_medico_por_telefone", medico["telefone"])

    # Postgres answers only once all hundred have missed: the table is locked until then, so the burst
    # is truly concurrent however fast the first load would otherwise be.
    async with pool.acquire() as trava, trava.transaction():
        await trava.execute("LOCK TABLE clientes IN ACCESS EXCLUSIVE MODE")
        leituras = asyncio.gather(
            *(medico_por_telefone(pool, cache, medico["telefone"]) for _ in range(MISSES))
        )
        async with asyncio.timeout(30):
            # The misses are counted inside the cache under test: there is no event to await instead.
            while cache.counts()["medico"]["misses"] < MISSES:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    resultados = await leituras

    assert await _chamadas(pool, "buscar_medico_por_telefone", medico["telefone"]) - antes == 1
    assert all(r == resultados[0] and r is not resultados[0] for r in resultados[1:])
    assert resultados[0] is not None
    assert resultados[0]["id"] == medico["id"]
    stats = cache.counts()["medico"]
    assert (stats["misses"], stats["coalesced"], stats["loads"]) == (MISSES, MISSES - 1, 1)
