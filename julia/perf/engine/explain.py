"""What a query costs that does not depend on the machine: plan shape and buffers, from
EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) on the exact text julia runs, and the tree itself node by
node (`tree`), so a plan that moved between head and base can be shown side by side
(julia.perf.engine.diff.plan)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Plan:
    nodes: list[str]  # node types, depth first, "Index Scan[idx_x]" when an index is used
    indexes: list[str]
    buffers: int  # shared hit + read
    shared_hit: int
    shared_read: int
    query_id: int | None  # pg_stat_statements' queryid of the statement
    tree: list[dict[str, Any]] = field(default_factory=list)  # `node` of each node, depth first


# EXPLAIN's keys kept per node, under the short names the results and the report use. Timing is left out:
# it is the machine's; these are the plan's (estimated and actual rows, loops, buffers, a sort's spill).
NODE_KEYS = {
    "Node Type": "node",
    "Relation Name": "relation",
    "Index Name": "index",
    "Plan Rows": "rows_estimated",
    "Actual Rows": "rows_actual",
    "Actual Loops": "loops",
    "Shared Hit Blocks": "shared_hit",
    "Shared Read Blocks": "shared_read",
    "Temp Written Blocks": "temp_written",
    "Sort Method": "sort_method",
    "Sort Space Type": "sort_space",
}


def node(plan: dict[str, Any], depth: int) -> dict[str, Any]:
    """One node of an EXPLAIN tree as plain figures: its depth, then NODE_KEYS that it has."""
    return {"depth": depth, **{short: plan[key] for key, short in NODE_KEYS.items() if key in plan}}


def flatten(plan: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """The tree depth first, each node with its depth (the order EXPLAIN prints it in)."""
    out = [node(plan, depth)]
    for child in plan.get("Plans", []):
        out += flatten(child, depth + 1)
    return out


def shape(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    nodes: list[str] = []
    indexes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        index = node.get("Index Name")
        nodes.append(f"{node['Node Type']}[{index}]" if index else node["Node Type"])
        if index and index not in indexes:
            indexes.append(index)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return nodes, indexes


OPTIONS = "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON"
PREPARED = "perf_generic_plan"  # the name the generic plan is prepared under, deallocated after


async def explain(
    conn: asyncpg.Connection, statement: str, args: tuple[Any, ...], *, mutates: bool, generic: bool = False
) -> Plan:
    """EXPLAIN ANALYZE executes the statement: a writing one runs in a transaction rolled back.
    `generic`: the plan Postgres makes once for any values (see the module's docstring)."""
    if generic:
        raw = await _generic(conn, statement, args)
    elif mutates:
        tr = conn.transaction()
        await tr.start()
        try:
            raw = await conn.fetchval(f"EXPLAIN ({OPTIONS}) {statement}", *args)
        finally:
            await tr.rollback()
    else:
        raw = await conn.fetchval(f"EXPLAIN ({OPTIONS}) {statement}", *args)
    return _plan(raw)


async def _generic(conn: asyncpg.Connection, statement: str, args: tuple[Any, ...]) -> Any:
    """EXECUTE takes no bind parameters, so each value goes in as the literal Postgres itself renders
    (quote_nullable of the value sent as the parameter's own type: arrays, timestamps and enums round-trip
    exactly). Always in a transaction rolled back: a writing statement's effects go, and so does the SET."""
    oids = [t.oid for t in (await conn.prepare(statement)).get_parameters()]
    # format_type gives each parameter's type as SQL spells it (int4[] arrives as "integer[]").
    types = await conn.fetchval(
        "SELECT array_agg(format_type(o, NULL) ORDER BY n) FROM unnest($1::oid[]) WITH ORDINALITY AS p(o, n)",
        oids,
    )
    casts = ", ".join(f"quote_nullable(${i}::{t})" for i, t in enumerate(types or [], 1))
    literals: list[str] = await conn.fetchval(f"SELECT ARRAY[{casts}]", *args) if oids else []
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE {PREPARED} AS {statement}")
        execute = f"EXECUTE {PREPARED}({', '.join(literals)})" if literals else f"EXECUTE {PREPARED}"
        return await conn.fetchval(f"EXPLAIN ({OPTIONS}) {execute}")
    finally:
        await tr.rollback()
        # A prepared statement outlives the transaction that made it.
        await conn.execute(f"DEALLOCATE {PREPARED}")


async def plans_run(conn: asyncpg.Connection, statement: str) -> dict[str, int]:
    """How many times this connection's prepared `statement` (asyncpg's statement cache names it) ran a
    generic plan and a custom one, summed if it was prepared more than once: which plan the timed calls
    ran."""
    generic, custom = await conn.fetchval(
        "SELECT ARRAY[coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)]::bigint[]"
        " FROM pg_prepared_statements WHERE statement = $1",
        statement,
    )
    return {"generic": int(generic), "custom": int(custom)}


def _plan(raw: Any) -> Plan:
    top = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    plan = top["Plan"]
    nodes, indexes = shape(plan)
    hit, read = int(plan.get("Shared Hit Blocks", 0)), int(plan.get("Shared Read Blocks", 0))
    query_id = top.get("Query Identifier")
    return Plan(
        nodes,
        indexes,
        hit + read,
        hit,
        read,
        int(query_id) if query_id is not None else None,
        flatten(plan),
    )
