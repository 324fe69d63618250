from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A pool (one statement, any free connection) or a connection (inside the caller's transaction).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Executor: TypeAlias = "asyncpg.Pool[asyncpg.Record] | Connection"
