"""`julia perf analyze`: the seed's analisar_queries, against any database (embedded, staging, production
read-only). Per critical query: warm latency over rotating real keys, rows, plan shape and buffers.

A writing query runs inside a transaction that is rolled back; on a read-only server it is reported as
skipped rather than failing the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from julia.perf.critical import CRITICAL, Params, pick_params
from julia.perf.engine.explain import explain
from julia.perf.engine.harness import measure
from julia.perf.engine.stats import summarize
from julia.queries import Critical, sql


@dataclass(frozen=True)
class Analysis:
    name: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    rows: int | None = None
    buffers: int | None = None
    plan: str = ""
    note: str = ""


async def analyze(conn: asyncpg.Connection, repeat: int = 50) -> list[Analysis]:
    params = await pick_params(conn)
    results: list[Analysis] = []
    for query in CRITICAL:
        try:
            results.append(await _one(conn, query, params[query.name], repeat))
        except asyncpg.ReadOnlySQLTransactionError:
            results.append(Analysis(query.name, note="skipped: the server is read-only"))
    return results


async def _one(conn: asyncpg.Connection, query: Critical, keys: list[Params], repeat: int) -> Analysis:
    statement = sql(query.name)
    rows = 0

    async def call(i: int) -> None:
        nonlocal rows
        if query.mutates:
            await conn.execute("BEGIN")
        try:
            rows = max(rows, len(await conn.fetch(statement, *keys[i % len(keys)])))
        finally:
            if query.mutates:
                await conn.execute("ROLLBACK")

    summary = summarize((await measure(call, samples=repeat, warmup=min(5, repeat))).samples_ms)
    plan = await explain(conn, statement, keys[0], mutates=query.mutates)
    return Analysis(
        query.name,
        summary.p50,
        summary.p95,
        summary.max,
        rows,
        plan.buffers,
        " > ".join(plan.nodes),
        "writes rolled back" if query.mutates else "",
    )


def render(results: list[Analysis]) -> str:
    head = f"{'query':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>5} {'bufs':>5}  plan"
    lines = [head, "-" * len(head)]
    for r in results:
        if r.p50_ms is None:
            lines.append(f"{r.name:28} {r.note}")
            continue
        lines.append(
            f"{r.name:28} {r.p50_ms:8.3f} {r.p95_ms:8.3f} {r.max_ms:8.3f} {r.rows:5} {r.buffers:5}  {r.plan}"
            + (f"  ({r.note})" if r.note else "")
        )
    return "\n".join(lines)
