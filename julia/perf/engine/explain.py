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


async def explain(conn: asyncpg.Connection, statement: str, args: tuple[Any, ...], *, mutates: bool) -> Plan:
    """EXPLAIN ANALYZE executes the statement: a writing one runs in a transaction rolled back."""
    query = f"EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) {statement}"
    if mutates:
        tr = conn.transaction()
        await tr.start()
        try:
            raw = await conn.fetchval(query, *args)
        finally:
            await tr.rollback()
    else:
        raw = await conn.fetchval(query, *args)
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
