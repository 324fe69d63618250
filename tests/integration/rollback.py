"""A transaction always rolled back: a test's writes never reach the shared seeded database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from julia.data import Connection


@contextlib.asynccontextmanager
async def rolled_back(conn: Connection) -> AsyncIterator[Connection]:
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield conn
    finally:
        await transaction.rollback()
