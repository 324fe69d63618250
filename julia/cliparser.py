"""The `julia` command line's argparse parser: unknown flags named, defaults shown, subcommands
described. The commands themselves live in julia/commands/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn


class _Formatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already says it (or there is none to
    say: flags, required options, empty lists)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # By identity: 0 == False, and a default of 0 is worth saying.
        nothing = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        silent = nothing or action.required or not action.option_strings
        if silent or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """A subcommand's one-line help, listed by its parent, is also its own --help description."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if "help" in kwargs:
            kwargs.setdefault("description", kwargs["help"])
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse, with what `julia` adds to it. Every subcommand's parser is built with this class too
    (argparse's add_subparsers uses the parent's), so each rule holds at every level."""

    _given: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Subcommands)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        # argparse reports a missing required argument before an unknown one: `julia --bogus` said only
        # "the following arguments are required: COMMAND". Name the unknown option first.
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


THROWAWAY_HELP = (
    "when DATABASE_URL is unset, start a throwaway Postgres for the command (Docker, else embedded; "
    "needs the `dev` extra), deleted at exit"
)


def requires_env(settings: Sequence[str]) -> str:
    """What a production command needs from the environment, said in its --help."""
    names = ", ".join(["DATABASE_URL", "REDIS_URL", *(name.upper() for name in settings)])
    return (
        f"Needs {names} in the environment: it never starts servers of its own (`julia servers` and "
        "`julia dev` start throwaway ones). Every setting: docs/environment.md."
    )
