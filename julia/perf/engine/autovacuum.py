"""Autovacuum off for the length of a run, on a server the run owns.

Both sides build their databases the same way and then do the same work in the same order, so their
tables should end up in the same state. Autovacuum breaks that: it visits each database at a moment of its
own (its naptime, the order of the stats it reads), and one visit can change what the planner sees between
two sides that are otherwise identical. In a calibration A/A run (x86_64, 2 CPUs, embedded PostgreSQL 18),
`contar_fila_pendente` ran as an index-only scan on one side and a bitmap heap scan on the other (39 vs 29
buffers) and failed at 1.148x. Each side's conftest VACUUM ANALYZEs its seed, which gives the statistics
and visibility map autovacuum would give production; after that, nothing should move behind the run's back.

ALTER SYSTEM changes the whole server, so this is done only on a server the caller started for the run
(embedded or a container, whose data directory dies with it), never on a DATABASE_URL someone else runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg


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
