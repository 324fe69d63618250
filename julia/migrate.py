"""Apply migrations/*.sql in order, once each, under an advisory lock.

- `schema_migrations` records each applied file with the sha256 of its text.
- A session advisory lock serialises concurrent `julia migrate` runs (two deploys starting at once):
  the second waits, then finds everything applied and does nothing.
- An applied file whose text changed is refused with the file's name: applied migrations are history;
  a change is a new file.
- Each file runs in its own transaction, so a failing file leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from julia.data import Connection
from julia.errors import MigrationError
from julia.paths import project_file

log = logging.getLogger(__name__)

# pg_advisory_lock key: any constant unique to julia's migrations ("julia" as bytes -> int).
LOCK_KEY = int.from_bytes(b"julia", "big")

# The migrator's own bookkeeping (the advisory lock and its ledger) stays inline, not in julia/sql: it runs
# before any of the service's tables exist, on a table the service never reads, and `julia migrate` must
# work against a database that julia/data's statements do not describe yet.
_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    filename   text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or project_file("migrations")
    return [Migration(path.name, path.read_text()) for path in sorted(directory.glob("*.sql"))]


async def migrate(conn: Connection, directory: Path | None = None) -> list[str]:
    """Bring the schema up to date; return the files applied by this call (empty when already current)."""
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_LEDGER)
        applied = {
            r["filename"]: r["checksum"]
            for r in await conn.fetch("SELECT filename, checksum FROM schema_migrations")
        }
        done: list[str] = []
        for migration in migrations:
            known = applied.get(migration.filename)
            if known is not None:
                if known != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.filename} was edited after it was applied "
                        f"(checksum {known[:12]} in the database, {migration.checksum[:12]} on disk); "
                        "add a new migration instead"
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (filename, checksum) VALUES ($1, $2)",
                        migration.filename,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.filename} failed: {exc}") from exc
            log.info("applied %s", migration.filename)
            done.append(migration.filename)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
