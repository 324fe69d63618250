"""`julia servers`: start (or find) Postgres and Redis, print their URLs, hold them until Ctrl-C.

Lets a developer point psql, redis-cli, `julia serve` or a test run at the same embedded servers.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from typing import Any

from julia import runtime
from julia.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "servers", help="start or find Postgres and Redis, print their URLs and keep them up until Ctrl-C"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with runtime.find_servers(Settings(), throwaway=True) as found:
        print(
            f"DATABASE_URL={found.database_url}",
            f"REDIS_URL={found.redis_url}",
            f"# {found.describe()}",
            sep="\n",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0
