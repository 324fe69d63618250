"""A private database seeded at a given scale: what tests and benchmarks at that scale need without touching
anyone else's database on the same server (julia.db.fresh_database makes the empty one)."""

from __future__ import annotations

import datetime as dt

from julia.db import connect, fresh_database
from julia.seed.load import SeedSummary, seed


async def seeded_database(
    admin_dsn: str,
    name: str,
    doctors: int,
    *,
    seed_: int = 42,
    today: dt.date | None = None,
    progress: bool = False,
) -> tuple[str, SeedSummary]:
    """`fresh_database`, then seeded with `doctors` doctors (`progress`: each phase on stderr, for long
    seeds); return its DSN and the seed's summary."""
    dsn = await fresh_database(admin_dsn, name)
    conn = await connect(dsn)
    try:
        return dsn, await seed(conn, doctors, seed=seed_, today=today, progress=progress)
    finally:
        await conn.close()
