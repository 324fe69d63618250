from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A pool (one statement, any free connection) or a connection (inside the caller's transaction).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Executor: TypeAlias = "asyncpg.Pool[asyncpg.Record] | Connection"


async def fetch_one(db: Executor, query: str, *args: object) -> asyncpg.Record:
    """The row of a statement that always returns exactly one (an aggregate without GROUP BY, a SELECT
    without FROM, INSERT ... RETURNING without ON CONFLICT): none would be a bug in its SQL, not a state
    for the caller to handle."""
    row = await db.fetchrow(query, *args)
    if row is None:
        raise AssertionError(f"a statement that always returns a row returned none: {query[:80]!r}")
    return row
