"""Autovacuum off for the length of a run, on each side's databases.

Both sides build their databases the same way and then do the same work in the same order, so their
tables should end up in the same state. Autovacuum breaks that: it visits each database at a moment of its
own (its naptime, the order of the stats it reads), and one visit can change what the planner sees between
two sides that are otherwise identical, or spend a worker's CPU and I/O inside one side's timed block. In
a calibration A/A run (x86_64, 2 CPUs, embedded PostgreSQL 18), `contar_fila_pendente` ran as an index-only
scan on one side and a bitmap heap scan on the other (39 vs 29 buffers) and failed at 1.148x. Each side's
conftest VACUUM ANALYZEs its seed, which gives the statistics and visibility map autovacuum would give
production; after that, nothing should move behind the run's back.

Two ways, by what the run owns:
- `paused`: on a server the caller started for the run (embedded or a container, whose data directory
  dies with it), ALTER SYSTEM turns autovacuum off server-wide and back at the end.
- `TablesOff`: on a server someone else runs (a DATABASE_URL: CI's service container, staging), the
  server's settings are not the run's to change, but each side's database is its own. Postgres's
  per-table storage parameter `autovacuum_enabled` (and `toast.autovacuum_enabled` for the table's TOAST
  table) stops automatic VACUUM and ANALYZE of that table, except to prevent transaction ID wraparound
  (PostgreSQL docs, CREATE TABLE, "Storage Parameters"), which a run of minutes never reaches. So once a
  side has seeded and VACUUM ANALYZEd its database, every table of it is switched off, between rounds,
  while no side measures. Left off after the run: those databases are the run's own, recreated by the
  next one. What it cannot reach: the system catalogs of those databases (ALTER TABLE refuses them), a
  few small tables autovacuum may still visit.
Before either existed, an A/A run against servers started apart and reached by URL (the CI topology, on
the project's 2-core machine) failed `message_path_claude0ms` at 1.092x [1.053-1.127]: the message path
writes conversations, messages and queued replies, and autovacuum visited those tables during the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

# Every table of the database's own schemas that still has autovacuum on: plain tables, partitions and
# materialized views (a partitioned parent has no storage, hence no storage parameters).
TABLES_ON = """
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND NOT EXISTS (
    SELECT FROM unnest(c.reloptions) AS o WHERE o IN ('autovacuum_enabled=off', 'autovacuum_enabled=false')
  )
ORDER BY 1
"""
# A side that has VACUUMed its seed (julia's perf conftest does, after seeding): it is ready to be frozen.
VACUUMED = "SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"


@contextlib.asynccontextmanager
async def paused(dsn: str, *, owned: bool) -> AsyncIterator[bool]:
    """Autovacuum off inside the block when `owned`, back to the server's own setting after; yields
    whether it was turned off (a role that may not ALTER SYSTEM leaves it as it was)."""
    if not owned:
        yield False
        return
    conn = await asyncpg.connect(dsn)
    try:
        try:
            await conn.execute("ALTER SYSTEM SET autovacuum = off")
        except asyncpg.InsufficientPrivilegeError:
            yield False
            return
        await conn.execute("SELECT pg_reload_conf()")
        try:
            yield True
        finally:
            await conn.execute("ALTER SYSTEM RESET autovacuum")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


class TablesOff:
    """Switches autovacuum off table by table in each of `databases` once its side has VACUUMed it.
    `check` runs between rounds (julia.perf.engine.turns: while every side waits); a database recreated
    by its side (a new oid) is handled again."""

    def __init__(self, admin: asyncpg.Connection, dsn: str, databases: Sequence[str]) -> None:
        self._admin = admin
        self._dsn = dsn
        self._databases = list(databases)
        self._done: dict[str, int] = {}  # database -> the oid handled
        self._counting: dict[str, int] = {}  # database -> the oid its counts are of
        self.tables: dict[str, int] = {}  # database -> its tables switched off
        self.refused: dict[str, int] = {}  # database -> tables that refused (not ours, locked)

    async def check(self) -> None:
        rows = await self._admin.fetch(
            "SELECT datname, oid FROM pg_database WHERE datname = ANY($1::text[])", self._databases
        )
        for row in rows:
            name, oid = str(row["datname"]), int(row["oid"])
            if self._done.get(name) != oid:
                await self._switch_off(name, oid)

    async def _switch_off(self, name: str, oid: int) -> None:
        conn = await asyncpg.connect(self._dsn, database=name)
        try:
            if not await conn.fetchval(VACUUMED):
                return  # not seeded yet: its side's setup is still to come
            # A table autovacuum is working on holds a lock ALTER TABLE waits for: wait a little, then
            # leave it for the next round rather than stall the run.
            await conn.execute("SET lock_timeout = '2s'")
            if self._counting.get(name) != oid:  # (re)created since: its counts start afresh
                self._counting[name] = oid
                self.tables[name] = 0
            refused = 0
            for table in [str(r[0]) for r in await conn.fetch(TABLES_ON)]:
                try:
                    await conn.execute(
                        f"ALTER TABLE {table} SET (autovacuum_enabled = off, toast.autovacuum_enabled = off)"
                    )
                    self.tables[name] += 1
                except (asyncpg.InsufficientPrivilegeError, asyncpg.LockNotAvailableError):
                    refused += 1
            self.refused[name] = refused
            if not refused:
                self._done[name] = oid
        finally:
            await conn.close()

    def said(self) -> str:
        parts = [
            f"{name} {self.tables.get(name, 0)} tables"
            + (f" ({self.refused[name]} refused)" if self.refused.get(name) else "")
            for name in self._databases
        ]
        return "autovacuum off table by table (a server the run does not own): " + ", ".join(parts)
