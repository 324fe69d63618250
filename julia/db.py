"""The asyncpg pool: built once per process by an entrypoint (never at import) and passed down."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

Pool = asyncpg.Pool  # re-exported so callers need not import asyncpg for type hints
Connection = asyncpg.Connection


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects (preferencias): no json.loads scattered through callers.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
    )
    assert pool is not None  # create_pool returns None only when awaited improperly
    return pool


def with_database(dsn: str, database: str) -> str:
    """The same server, another database (tests and the perf suite each get a private one)."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))
