"""`julia`: the entrypoint. Each command lives in julia/commands/<name>.py and registers itself here.

Errors julia raises on purpose (`JuliaError`) end the process with their one-line message and exit 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from julia.commands import dev, envio, migrate, perf, seed, serve, servers, worker
from julia.errors import JuliaError

COMMANDS = [migrate, servers, perf, serve, worker, dev, seed, envio]


class _Parser(argparse.ArgumentParser):
    """argparse reports a missing required argument before an unknown one, so `julia --bogus` said only
    "the following arguments are required: COMMAND". This parser (and every subcommand's, which argparse
    builds with the same class) names the unknown option first."""

    _given: list[str]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        unknown = [word for word in getattr(self, "_given", []) if self._is_unknown(word)]
        if unknown and not message.startswith("unrecognized arguments"):
            message = f"unrecognized arguments: {' '.join(unknown)} (and {message})"
        super().error(message)

    def _is_unknown(self, word: str) -> bool:
        if word == "--":
            return False
        name = word.split("=", 1)[0]
        if not name.startswith("-") or name.lstrip("-").replace(".", "", 1).isdigit():
            return False  # a value or a negative number, not an option
        # argparse accepts unambiguous prefixes (--doc for --doctors): those are known too.
        return not any(option.startswith(name) for option in self._option_string_actions)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="julia",
        description="Júlia: offers hospital shifts to doctors on WhatsApp. Postgres and Redis come from "
        "DATABASE_URL/REDIS_URL, else Docker (testcontainers), else embedded servers started for the "
        "command and stopped after it.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v logs progress (INFO), -vv everything (DEBUG)"
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
    try:
        return int(args.run(args) or 0)
    except JuliaError as exc:
        print(f"julia: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
