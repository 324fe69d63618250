"""Every critical query at the seeded scale, on the exact text julia runs (julia.queries.sql), each call
paired with its Postgres floor measured right beside it, so a busy neighbour on a 2-core machine slows a
query and its floor alike and the ratio stays honest:

floor_pg_select1     prepared `SELECT 1` on the long-lived connection (every pair's floor half)
query_<name>_warm    the same connection, statement prepared and cached, parameters rotating over a fixed
                     sample of keys; with rows returned, plan shape, buffers and the query id
                     pg_stat_statements reports it under (its calls and rows are added at session end)
floor_pg_select1_cold, query_<name>_cold
                     the first execution on a fresh connection: parse, plan and catalog caches paid

A writing query (reivindicar_mensagens) runs in a transaction rolled back after each call, untimed, so
every call sees the same due rows. After a warm query's timed blocks, COUNTED more calls are traced by
tracemalloc (julia.perf.engine.allocations, untimed): the median bytes one call held at once (the rows
asyncpg decoded, the Records) and left behind; the gate fails a peak above the base's by more than its
tolerance.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from julia.perf.context import Perf
from julia.perf.critical import CRITICAL, Params
from julia.perf.engine import native
from julia.perf.engine.explain import explain, plans_run
from julia.perf.engine.harness import Step, cold_sample, measure_paired
from julia.perf.engine.results import Bench
from julia.queries import Critical, sql

WARMUP = 100
COUNTED = 30  # warm calls traced for their allocations, untimed, after the timed ones
COLD_SAMPLES = 60
# Rounds per turn: 30 block pairs per cold benchmark in an A/B run. With 5 (8 pairs) the 95% signed-rank
# interval was so wide that a cold query's detectable effect was 1.59-1.63x in 12 A/A runs, above the 1.5x
# it must catch; a round costs about 50 ms a side, so more, smaller blocks are the cheap lever.
COLD_BLOCK = 2
EXPLAIN_KEYS = 8  # plans and buffers are taken over this many keys; the worst one is kept
WARM_FLOOR, COLD_FLOOR = "floor_pg_select1", "floor_pg_select1_cold"
ColdCall = Callable[[asyncpg.Connection, int], Awaitable[object]]


async def test_warm(perf: Perf, conn: asyncpg.Connection, params: dict[str, list[Params]]) -> None:
    floor_ms: list[float] = []
    blocks: list[int] = []
    rounds: list[int] = []
    begin, rollback = _transaction(conn)
    for query in CRITICAL:
        if perf.allocations_only:
            await perf.allocations_alone(
                Bench(f"query_{query.name}_warm", "query_warm", WARM_FLOOR, []),
                _warm_call(perf, conn, query, params[query.name]),
                COUNTED,
                warmup=WARMUP,
                before=begin if query.mutates else None,
                after=rollback if query.mutates else None,
            )
            continue
        # harness.measure_paired with the run's turns and slowdown spelled out, not perf.measure_paired:
        # perf/history_trials.py rewrites its slowdown argument to slow one query in its trial commits.
        paired = await measure_paired(
            _warm_call(perf, conn, query, params[query.name]),
            lambda i: conn.fetchval("SELECT 1"),
            samples=perf.samples,
            warmup=WARMUP,
            before=begin if query.mutates else None,
            after=rollback if query.mutates else None,
            turns=perf.turns,
            label=f"query_{query.name}_warm",
            slowdown=perf.slowdown,
        )
        floor_ms += paired.floor_ms
        counters = await _cost(conn, query, sql(query.name), params[query.name])
        counters |= await perf.allocated(
            _warm_call(perf, conn, query, params[query.name]),
            COUNTED,
            before=begin if query.mutates else None,
            after=rollback if query.mutates else None,
        )
        profiled = await perf.profile(
            _warm_call(perf, conn, query, params[query.name]),
            unit_ms=statistics.median(paired.samples_ms),
            before=begin if query.mutates else None,
            after=rollback if query.mutates else None,
        )
        perf.run.add(
            paired.bench(
                f"query_{query.name}_warm",
                "query_warm",
                WARM_FLOOR,
                counters,
                profiled,
            )
        )
        blocks += paired.blocks
        rounds += paired.rounds
    if perf.allocations_only:
        return
    # Still inside this side's last turn: the C client on the same work, for the harness's share.
    native_ms = native.pgbench_select1_mean_ms(perf.dsn)
    counters = {"native_client": "pgbench -M prepared", "native_ms": native_ms}
    perf.run.add(Bench(WARM_FLOOR, "floor", None, floor_ms, counters, blocks=blocks, rounds=rounds))


async def test_cold(perf: Perf, params: dict[str, list[Params]]) -> None:
    """Round after round: the floor on a fresh connection, then each query on its own fresh connection;
    a query's ratio is to the floor of its own round."""
    select1: ColdCall = lambda c, i: c.fetchval("SELECT 1")  # noqa: E731
    floor_ms: list[float] = []
    samples: dict[str, list[float]] = {query.name: [] for query in CRITICAL}
    ratios: dict[str, list[float]] = {query.name: [] for query in CRITICAL}
    calls = {query.name: _cold_call(perf, query, params[query.name]) for query in CRITICAL}
    rounds: list[int] = []
    for i in range(COLD_SAMPLES):
        if i % COLD_BLOCK == 0:
            rounds.append(await perf.switch("cold"))
        floor_ms.append(await cold_sample(perf.connect, select1, i, slowdown=perf.slowdown))
        for query in CRITICAL:
            sample = await cold_sample(
                perf.connect, calls[query.name], i, in_transaction=query.mutates, slowdown=perf.slowdown
            )
            samples[query.name].append(sample)
            ratios[query.name].append(sample / floor_ms[-1])
    blocks = [COLD_BLOCK] * (COLD_SAMPLES // COLD_BLOCK)
    perf.run.add(Bench(COLD_FLOOR, "floor", None, floor_ms, blocks=blocks, rounds=rounds))
    for query in CRITICAL:
        perf.run.add(
            Bench(
                f"query_{query.name}_cold",
                "query_cold",
                COLD_FLOOR,
                samples[query.name],
                {},
                ratios[query.name],
                blocks,
                rounds,
            )
        )


def _warm_call(perf: Perf, conn: asyncpg.Connection, query: Critical, keys: list[Params]) -> Step:
    statement = sql(query.name)

    async def call(i: int) -> object:
        await perf.injected_sleep(query.name)
        return await conn.fetch(statement, *keys[i % len(keys)])

    return call


def _cold_call(
    perf: Perf, query: Critical, keys: list[Params]
) -> Callable[[asyncpg.Connection, int], Awaitable[object]]:
    statement = sql(query.name)

    async def call(fresh: asyncpg.Connection, i: int) -> object:
        await perf.injected_sleep(query.name)
        return await fresh.fetch(statement, *keys[i % len(keys)])

    return call


def _transaction(conn: asyncpg.Connection) -> tuple[Step, Step]:
    async def begin(i: int) -> None:
        await conn.execute("BEGIN")

    async def rollback(i: int) -> None:
        await conn.execute("ROLLBACK")

    return begin, rollback


async def _cost(
    conn: asyncpg.Connection, query: Critical, statement: str, keys: list[Params]
) -> dict[str, Any]:
    """The counters that do not depend on the machine: the most rows any key returns, and over the first
    EXPLAIN_KEYS keys the worst buffer count, the first key's plan and the indexes every plan used; beside
    them the generic plan (first key) and how many of the timed calls ran it (`plans_run`, read first:
    the rows below run the same cached statement)."""
    ran = await plans_run(conn, statement)
    rows = 0
    begin, rollback = _transaction(conn)
    for i, key in enumerate(keys):
        if query.mutates:
            await begin(i)
        rows = max(rows, len(await conn.fetch(statement, *key)))
        if query.mutates:
            await rollback(i)
    plans = [await explain(conn, statement, key, mutates=query.mutates) for key in keys[:EXPLAIN_KEYS]]
    common = [index for index in plans[0].indexes if all(index in p.indexes for p in plans)]
    generic = await explain(conn, statement, keys[0], mutates=query.mutates, generic=True)
    return {
        "rows": rows,
        "buffers": max(p.buffers for p in plans),
        "shared_hit": plans[0].shared_hit,
        "shared_read": plans[0].shared_read,
        "plan_nodes": plans[0].nodes,
        "plan_tree": plans[0].tree,
        "plan_indexes": common,
        "distinct_plans": len({tuple(p.nodes) for p in plans}),
        "query_id": plans[0].query_id,
        "keys": len(keys),
        "plans_run": ran,
        "generic": {
            "plan_nodes": generic.nodes,
            "plan_tree": generic.tree,
            "buffers": generic.buffers,
        },
    }
