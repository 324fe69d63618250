"""julia.perf.engine.autovacuum against a real Postgres: off inside a run that owns the server, back to
the server's setting after, and untouched on a server the run does not own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from julia import servers
from julia.perf.engine import autovacuum
from tests.support.waiting import ate


def _autovacuum_is(dsn: str, expected: str) -> Callable[[], Awaitable[bool]]:
    """The setting as a new backend sees it (pg_reload_conf only signals the postmaster)."""

    async def check() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return str(await conn.fetchval("SHOW autovacuum")) == expected
        finally:
            await conn.close()

    return check


async def test_off_inside_an_owned_run_and_back_after(services: servers.Servers) -> None:
    dsn = services.database_url
    await ate(_autovacuum_is(dsn, "on"))
    async with autovacuum.paused(dsn, owned=True) as paused:
        assert paused
        await ate(_autovacuum_is(dsn, "off"))
    await ate(_autovacuum_is(dsn, "on"))


async def test_a_server_the_run_does_not_own_is_left_alone(services: servers.Servers) -> None:
    async with autovacuum.paused(services.database_url, owned=False) as paused:
        assert not paused
        assert await _autovacuum_is(services.database_url, "on")()


async def _reloptions(dsn: str, database: str) -> dict[str, tuple[list[str] | None, list[str] | None]]:
    """Each table's storage parameters, and its TOAST table's (where toast.* parameters are kept)."""
    conn = await asyncpg.connect(dsn, database=database)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, c.reloptions, t.reloptions AS toast FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm', 'p')"
        )
        return {str(r["relname"]): (r["reloptions"], r["toast"]) for r in rows}
    finally:
        await conn.close()


async def test_a_server_the_run_does_not_own_gets_autovacuum_off_table_by_table(
    services: servers.Servers,
) -> None:
    """Each side's database is the run's own even when the server is not: once its side has VACUUMed it,
    every table (and its TOAST table) stops being autovacuumed; a database recreated is handled again."""
    dsn, name = services.database_url, "julia_test_autovacuum_tables"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(dsn, database=name)
        try:
            await conn.execute("CREATE TABLE t1 (id int PRIMARY KEY, body text)")
            await conn.execute("CREATE TABLE t2 (id int)")
            await conn.execute("CREATE MATERIALIZED VIEW m AS SELECT id FROM t2")
            await conn.execute("CREATE TABLE p (id int) PARTITION BY RANGE (id)")
            await conn.execute("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10)")
        finally:
            await conn.close()
        tables = autovacuum.TablesOff(admin, dsn, [name, "julia_no_such_database"])
        await tables.check()  # not VACUUMed yet: its side is still seeding
        assert tables.tables == {}
        conn = await asyncpg.connect(dsn, database=name)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        await tables.check()
        options = await _reloptions(dsn, name)
        assert options["t1"] == (["autovacuum_enabled=off"], ["autovacuum_enabled=off"])  # text: TOASTed
        for table in ("t2", "m", "p1"):
            assert options[table][0] == ["autovacuum_enabled=off"]
        assert options["p"] == (None, None)  # a partitioned parent has no storage to vacuum
        assert tables.tables == {name: 4}
        assert tables.said().endswith(f"{name} 4 tables, julia_no_such_database 0 tables")
        await tables.check()  # done: nothing more to switch off
        assert tables.tables == {name: 4}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
