"""A digest of everything seeded, computed by Postgres over the loaded rows (see seed_checksum)."""

from __future__ import annotations

import hashlib

import asyncpg

from julia.queries import sql


async def checksum(conn: asyncpg.Connection) -> tuple[dict[str, int], str]:
    """Rows per table and one digest over every table's (rows, row-hash sum), in a fixed table order."""
    async with conn.transaction():
        await conn.execute(sql("seed_sessao"))
        tables = await conn.fetch(sql("seed_checksum"))
    digest = hashlib.blake2b(digest_size=16)
    for table in tables:
        digest.update(f"{table['tabela']}:{table['linhas']}:{table['soma']};".encode())
    return {table["tabela"]: table["linhas"] for table in tables}, digest.hexdigest()
