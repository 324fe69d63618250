"""A private, migrated database on a server, seeded or not: what tests and benchmarks at a given scale need
without touching anyone else's database on the same server."""

from __future__ import annotations

import datetime as dt

import asyncpg

from julia import db
from julia.migrate import migrate
from julia.seed.load import SeedSummary, seed


async def fresh_database(admin_dsn: str, name: str) -> str:
    """(Re)create database `name` on the server of `admin_dsn`, migrated and empty; return its DSN."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = db.with_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


async def seeded_database(
    admin_dsn: str, name: str, doctors: int, *, seed_: int = 42, today: dt.date | None = None
) -> tuple[str, SeedSummary]:
    """`fresh_database`, then seeded with `doctors` doctors; return its DSN and the seed's summary."""
    dsn = await fresh_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        return dsn, await seed(conn, doctors, seed=seed_, today=today)
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
