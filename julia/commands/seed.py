"""`julia seed --doctors N`: fill an empty database with synthetic doctors (julia/seed), deterministically.

With --throwaway and no DATABASE_URL the servers are ones started for the command (Docker or embedded) and
gone when it ends; --keep holds them (and prints their URLs, like `julia servers`) so the data can be
explored until Ctrl-C. Without --throwaway, DATABASE_URL is required.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
from typing import Any, cast

import asyncpg

from julia import runtime
from julia.cliparser import THROWAWAY_HELP
from julia.seed import SeedSummary, check_doctors, seed
from julia.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "seed",
        help="load N synthetic doctors (conversations, interactions, shifts, queue) into an empty database",
        description="Load N synthetic doctors into the empty, migrated database of DATABASE_URL (or of a "
        "server started for the command with --throwaway). The same --doctors, --seed and --today give the "
        "same rows and checksum. Throwaway servers stop when the command ends unless --keep is given.",
    )
    parser.add_argument(
        "--doctors", type=int, required=True, metavar="N", help="doctors to create (clientes)"
    )
    parser.add_argument("--seed", type=int, default=42, help="pseudo-random seed (default: 42)")
    parser.add_argument(
        "--today",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day dates are relative to: shifts after it, history before (default: today)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the servers up after seeding and print their URLs, until Ctrl-C",
    )
    parser.add_argument("--throwaway", action="store_true", help=THROWAWAY_HELP)
    parser.set_defaults(run=run)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, not {text!r}") from None


def run(args: argparse.Namespace) -> int:
    check_doctors(args.doctors)  # before starting any server
    settings = Settings()
    throwaway = args.throwaway
    with runtime.find_servers(settings, need_redis=throwaway, throwaway=throwaway) as found:
        summary = asyncio.run(_seed(settings, found.database_url, args))
        print(summary.line(), flush=True)
        if args.keep:
            print(
                f"DATABASE_URL={found.database_url}\nREDIS_URL={found.redis_url}\n# {found.describe()}; "
                "Ctrl-C to stop",
                flush=True,
            )
            _hold()
    return 0


async def _seed(settings: Settings, dsn: str, args: argparse.Namespace) -> SeedSummary:
    async with runtime.migrated_pool(settings, dsn) as pool, pool.acquire() as conn:
        # A pool's connection proxy forwards every Connection method seed() uses.
        connection = cast(asyncpg.Connection, conn)
        return await seed(connection, args.doctors, seed=args.seed, today=args.today, progress=True)


def _hold() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
