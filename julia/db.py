"""The asyncpg pool: built once per process by an entrypoint (never at import) and passed down."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from julia.errors import DatabaseUnavailable

# Postgres cannot be reached: down, restarting, out of connections, the connection dropped or timed out
# (TimeoutError is an OSError). The API answers 503 for these, so Evolution and Chatwoot redeliver.
POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# ...or the server refused the statement or the login: what a connect turns into DatabaseUnavailable, and
# what the worker's loops and the listeners log and try again rather than die of.
POSTGRES_ERRORS: tuple[type[BaseException], ...] = (*POSTGRES_DOWN, asyncpg.PostgresError)


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # jsonb in and out as Python objects (preferencias): no json.loads scattered through callers.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back a transaction left
    open, drop listeners). Its default adds a round trip to every release (`SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) to undo session state julia never sets
    on a pooled connection: no SET (only SET LOCAL inside transactions), no advisory or LISTEN sessions
    (julia.listening's listeners have connections of their own), no held cursors. A message costs 4-6
    acquires, so that was 4-6 round trips of nothing. Code that needs session state takes its own
    connection (`connect`)."""


@contextlib.contextmanager
def _unreachable(dsn: str) -> Iterator[None]:
    """The driver's and the socket's errors while connecting, as the one line the CLI prints."""
    try:
        yield
    except POSTGRES_ERRORS as exc:
        raise DatabaseUnavailable(f"cannot reach Postgres at {redact(dsn)}: {exc}") from exc


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    application_name: str | None = None,
    **kwargs: Any,
) -> asyncpg.Pool[asyncpg.Record]:
    """`application_name` names the process in pg_stat_activity (`julia serve`, `julia worker`): who holds
    which connections, at a glance, and what the perf run leaves unpinned (julia.perf.engine.placement)."""
    if application_name is not None:
        kwargs["server_settings"] = {
            **kwargs.get("server_settings", {}),
            "application_name": application_name,
        }
    with _unreachable(dsn):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            **kwargs,
        )


async def connect(dsn: str) -> asyncpg.Connection[asyncpg.Record]:
    """One connection (migrations, admin statements), with the same readable failure as the pool."""
    with _unreachable(dsn):
        conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


def redact(dsn: str) -> str:
    """The DSN without its password, fit for an error message or a log line."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, database: str) -> str:
    """The same server, another database (tests and the perf suite each get a private one)."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


async def fresh_database(admin_dsn: str, name: str, *, migrated: bool = True) -> str:
    """(Re)create database `name` on the server of `admin_dsn`, migrated (unless asked not to) and empty;
    return its DSN. Tests and benchmarks each get their own, never touching anyone else's."""
    from julia.migrate import migrate  # migrate's own imports reach back here for connections

    await drop_database(admin_dsn, name)
    admin = await connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(admin_dsn, name)
    if migrated:
        conn = await connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    return dsn


async def drop_database(admin_dsn: str, name: str) -> None:
    admin = await connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
