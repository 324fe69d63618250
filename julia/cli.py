"""`julia`: the entrypoint. Each command lives in julia/commands/<name>.py and registers itself here.

Errors julia raises on purpose (`JuliaError`) and settings the environment got wrong end the process with
their one-line message and exit 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from julia.cliparser import Parser
from julia.commands import campanha, dev, health, lgpd, migrate, pause, perf, seed, serve, servers, worker
from julia.errors import JuliaError
from julia.masking import mask_logs
from julia.settings import Settings, describe_invalid

COMMANDS = [migrate, servers, perf, serve, worker, dev, seed, pause, health, campanha, lgpd]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="julia",
        description="Júlia: offers hospital shifts to doctors on WhatsApp. Postgres and Redis come from "
        "DATABASE_URL/REDIS_URL; only `julia dev`, `julia servers`, `julia perf` and `--throwaway` start "
        "throwaway ones (Docker, else embedded) for the command and stop them after it.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v logs progress (INFO), -vv everything (DEBUG); default: warnings only",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (a supervisor stopping us) unwinds like Ctrl-C, so servers we started are stopped.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    mask_logs()  # LGPD: no phone number in any log line (julia/masking.py)
    try:
        return int(args.run(args) or 0)
    except JuliaError as exc:
        print(f"julia: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise  # not the environment's: a bug, with its traceback
        print(f"julia: {describe_invalid(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
