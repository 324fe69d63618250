"""Migrations: apply on an empty database, apply again as a no-op, refuse an edited applied file,
serialise concurrent runs."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from julia import db, servers
from julia.errors import MigrationError
from julia.migrate import discover, migrate
from julia.paths import project_file


@pytest.fixture
async def empty_dsn(services: servers.Servers) -> AsyncIterator[str]:
    admin = await asyncpg.connect(services.database_url)
    await admin.execute("DROP DATABASE IF EXISTS julia_migration WITH (FORCE)")
    await admin.execute("CREATE DATABASE julia_migration")
    yield db.with_database(services.database_url, "julia_migration")
    await admin.execute("DROP DATABASE IF EXISTS julia_migration WITH (FORCE)")
    await admin.close()


async def test_applies_every_file_once_then_is_a_no_op(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        ledger = await conn.fetch("SELECT filename FROM schema_migrations ORDER BY filename")
    finally:
        await conn.close()
    assert first == [m.filename for m in discover()]
    assert second == []
    assert [r["filename"] for r in ledger] == first


async def test_refuses_an_applied_file_that_was_edited(empty_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(project_file("migrations"), folder)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn, folder)
        edited = sorted(folder.glob("*.sql"))[0]
        edited.write_text(edited.read_text() + "\n-- an afterthought\n")
        with pytest.raises(MigrationError, match=f"{edited.name} was edited after it was applied"):
            await migrate(conn, folder)
    finally:
        await conn.close()


async def test_concurrent_runs_apply_each_file_once(empty_dsn: str) -> None:
    conns = [await asyncpg.connect(empty_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    applied = sorted(name for result in results for name in result)
    assert applied == [m.filename for m in discover()]


async def test_a_failing_file_leaves_nothing_half_applied(empty_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (id int);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(empty_dsn)
    try:
        with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
            await migrate(conn, folder)
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        ledger = [r[0] for r in await conn.fetch("SELECT filename FROM schema_migrations")]
    finally:
        await conn.close()
    assert "b" not in tables
    assert ledger == ["0001_ok.sql"]
