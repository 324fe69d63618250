"""Cost counters read from the servers themselves, not from julia: what Postgres executed
(pg_stat_statements) and what Redis executed (`INFO commandstats`). A delta between two snapshots around
one unit of work (a cache read, a message) is that work's cost, whatever code path sent it.

Both are server-wide, so they are exact only while nothing else talks to the perf database and the perf
run's own Redis (the embedded servers are private to the run; a shared DATABASE_URL/REDIS_URL adds
strangers' commands). Callers therefore take the per-unit MODE over many units: a one-off connection
set-up or a neighbour's command does not move it, a code path that sends one more statement does.

Excluded from the counts: the snapshots themselves (the pg_stat_statements read, `INFO`), and Redis
connection set-up (`HELLO`, `CLIENT SETINFO`, `SELECT`, `AUTH`), which a pool pays once per connection.
The asyncpg pool's reset on release (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`,
one round trip) is counted apart as `pg_pool_resets`: a real cost per acquire, but not julia's SQL.

Beside the totals, `typical` keeps which statements they were (`pg_by_statement`: pg_stat_statements'
normalized text and queryid, calls, rows and shared blocks per unit), the evidence the gate diffs head
against base when a count or a time moved (julia.perf.engine.diff, julia.perf.engine.causes).
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

# Top-level statements of the current database by text; the read itself is left out by its text.
PG_CALLS = (
    "SELECT queryid, query, calls, rows, shared_blks_hit + shared_blks_read AS blocks "
    "FROM pg_stat_statements "
    "WHERE toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND query NOT LIKE '%pg_stat_statements%'"
)
POOL_RESET = "RESET ALL"  # the last statement of asyncpg's reset query: one per pool release
# A pool's one-off connection set-up, and our own snapshot: never part of a unit's cost.
REDIS_IGNORED = frozenset({"info", "hello", "client|setinfo", "select", "auth"})


@dataclass(frozen=True)
class Executed:
    """One statement's cumulative figures in pg_stat_statements, or their growth over one unit."""

    calls: int
    rows: int
    blocks: int  # shared hit + read
    query_id: int | None = None


@dataclass(frozen=True)
class Snapshot:
    pg: dict[str, Executed] | None  # normalized statement text -> figures; None without pg_stat_statements
    redis: dict[str, int]  # command -> calls


@dataclass(frozen=True)
class Cost:
    pg_statements: int | None  # everything julia sent (transaction brackets included), pool resets not
    pg_pool_resets: int | None
    redis_commands: int
    redis_by_command: dict[str, int]
    # The statements counted in pg_statements, by pg_stat_statements' normalized text: what they were
    by_statement: dict[str, Executed] = field(default_factory=dict)


class Meter:
    """Snapshots of both servers, on a connection and client of its own (not the measured ones)."""

    def __init__(self, conn: asyncpg.Connection, redis: aioredis.Redis) -> None:
        self._conn = conn
        self._redis = redis

    async def snapshot(self) -> Snapshot:
        pg: dict[str, Executed] | None
        try:
            rows = await self._conn.fetch(PG_CALLS)
        except asyncpg.PostgresError:  # a DATABASE_URL server without pg_stat_statements
            pg = None
        else:
            pg = {}
            for row in rows:  # one text can have several entries (users, plans): summed
                seen = pg.get(row["query"], Executed(0, 0, 0, row["queryid"]))
                pg[row["query"]] = Executed(
                    seen.calls + int(row["calls"]),
                    seen.rows + int(row["rows"]),
                    seen.blocks + int(row["blocks"]),
                    seen.query_id,
                )
        info = await self._redis.info("commandstats")
        commands = {
            name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in info.items()
            if name.removeprefix("cmdstat_") not in REDIS_IGNORED
        }
        return Snapshot(pg, commands)

    async def cost_of(self, unit: Awaitable[object]) -> Cost:
        """What one unit (a coroutine, not yet started) sent to both servers: a snapshot either side."""
        start = await self.snapshot()
        await unit
        return cost(start, await self.snapshot())


def cost(before: Snapshot, after: Snapshot) -> Cost:
    by_command = {
        name: calls - before.redis.get(name, 0)
        for name, calls in after.redis.items()
        if calls != before.redis.get(name, 0)
    }
    statements = resets = None
    by_statement: dict[str, Executed] = {}
    if before.pg is not None and after.pg is not None:
        statements = resets = 0
        for query, now in after.pg.items():
            then = before.pg.get(query, Executed(0, 0, 0))
            grown = now.calls - then.calls
            if query.strip().rstrip(";").upper() == POOL_RESET:
                resets += grown
            elif not _reset_part(query) and grown:
                statements += grown
                by_statement[query] = Executed(
                    grown, now.rows - then.rows, now.blocks - then.blocks, now.query_id
                )
    return Cost(statements, resets, sum(by_command.values()), by_command, by_statement)


def _reset_part(query: str) -> bool:
    """The other statements of asyncpg's reset query (pg_stat_statements records each one)."""
    text = query.strip().rstrip(";").upper()
    return text in {"CLOSE ALL", "UNLISTEN *"} or text.startswith("SELECT PG_ADVISORY_UNLOCK_ALL()")


def typical(costs: Sequence[Cost], unit: str = "call") -> dict[str, object]:
    """The per-unit counters of many units: the mode of each (see the module docstring), and the range.
    `unit`: what one unit is, in the words the evidence says "per" with (a call, a message)."""
    if not costs:
        return {}
    out: dict[str, object] = {"units_counted": len(costs), "unit": unit}
    redis = [c.redis_commands for c in costs]
    out["redis_commands"] = statistics.mode(redis)
    out["redis_commands_range"] = [min(redis), max(redis)]
    out["redis_by_command"] = next(
        c.redis_by_command for c in costs if c.redis_commands == out["redis_commands"]
    )
    if all(c.pg_statements is not None for c in costs):
        statements = [c.pg_statements or 0 for c in costs]
        resets = [c.pg_pool_resets or 0 for c in costs]
        out["pg_statements"] = statistics.mode(statements)
        out["pg_statements_range"] = [min(statements), max(statements)]
        out["pg_pool_resets"] = statistics.mode(resets)
        out["pg_by_statement"] = per_statement(costs)
    return out


def per_statement(costs: Sequence[Cost]) -> list[dict[str, object]]:
    """Each statement's calls, rows and shared blocks per unit: the mean over every unit counted, so a
    statement some units run and others do not (a cache refill) shows as the share it is. The evidence a
    changed count is read from (julia.perf.engine.diff), most calls first."""
    totals: dict[str, Executed] = {}
    for c in costs:
        for query, e in c.by_statement.items():
            seen = totals.get(query, Executed(0, 0, 0, e.query_id))
            totals[query] = Executed(
                seen.calls + e.calls, seen.rows + e.rows, seen.blocks + e.blocks, seen.query_id
            )
    units = len(costs)
    ordered = sorted(totals.items(), key=lambda item: (-item[1].calls, item[0]))
    return [
        {
            "query": query,
            "query_id": e.query_id,
            "calls": round(e.calls / units, 3),
            "rows": round(e.rows / units, 3),
            "blocks": round(e.blocks / units, 3),
        }
        for query, e in ordered
    ]
