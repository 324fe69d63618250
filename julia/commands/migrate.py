"""`julia migrate`: bring the schema of DATABASE_URL (or, with --throwaway, of a server started for the
command: a check that the migrations apply) up to date."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from julia import db, runtime
from julia.cliparser import THROWAWAY_HELP
from julia.migrate import migrate
from julia.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "migrate", help="apply migrations/*.sql in order (idempotent; refuses edited applied files)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="migrations folder (default: the project's)")
    parser.add_argument("--throwaway", action="store_true", help=THROWAWAY_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    with runtime.find_servers(settings, need_redis=False, throwaway=args.throwaway) as found:
        applied = asyncio.run(_apply(found.database_url, args.dir))
    detail = f": {', '.join(applied)}" if applied else "; schema is current"
    print(f"applied {len(applied)} migration(s){detail}")
    return 0


async def _apply(dsn: str, directory: Path | None) -> list[str]:
    conn = await db.connect(dsn)
    try:
        return await migrate(conn, directory)
    finally:
        await conn.close()
