"""julia.perf.engine.explain against a real Postgres: the generic plan a prepared statement switches to
is not the plan EXPLAIN shows with the values filled in, and pg_prepared_statements says which one the
connection's calls ran."""

from __future__ import annotations

import asyncpg

from julia import servers
from julia.perf.engine.explain import PREPARED, explain, plans_run

# 60% of the rows share one value: with it filled in the planner expects 60,000 rows; a generic plan, made
# for any value, expects about a thousandth of the table.
SKEWED = """
CREATE TEMP TABLE probe AS SELECT g AS a, CASE WHEN g < 60000 THEN 0 ELSE g % 1000 END AS b
FROM generate_series(1, 100000) g;
CREATE INDEX ON probe (b);
ANALYZE probe;
"""
QUERY = "SELECT count(*) FROM probe WHERE b = $1 AND a <> ALL($2::int[])"


async def test_the_generic_plan_is_explained_apart_from_the_custom_one(services: servers.Servers) -> None:
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(SKEWED)
        custom = await explain(conn, QUERY, (0, [1, 2]), mutates=False)
        generic = await explain(conn, QUERY, (0, [1, 2]), mutates=False, generic=True)
        assert custom.tree[1]["rows_estimated"] > 50_000
        assert generic.tree[1]["rows_estimated"] < 1_000
        assert generic.tree[1]["rows_actual"] == custom.tree[1]["rows_actual"] > 50_000
        # Nothing is left behind: the statement is deallocated, the SET was local.
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE name = $1", PREPARED) == 0
        )
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await conn.close()


async def test_a_writing_statement_s_generic_plan_leaves_no_change(services: servers.Servers) -> None:
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(SKEWED)
        plan = await explain(
            conn, "UPDATE probe SET b = b + 1 WHERE a = $1", (7,), mutates=True, generic=True
        )
        assert plan.nodes[0] == "ModifyTable"
        assert await conn.fetchval("SELECT b FROM probe WHERE a = 7") == 0
    finally:
        await conn.close()


async def test_plans_run_counts_what_the_connection_s_cached_statement_ran(
    services: servers.Servers,
) -> None:
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(SKEWED)
        for _ in range(3):
            await conn.fetch(QUERY, 5, [1])
        assert await plans_run(conn, QUERY) == {"generic": 0, "custom": 3}
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.fetch(QUERY, 5, [1])
        assert await plans_run(conn, QUERY) == {"generic": 1, "custom": 3}
        assert await plans_run(conn, "SELECT 'never prepared'") == {"generic": 0, "custom": 0}
    finally:
        await conn.close()
