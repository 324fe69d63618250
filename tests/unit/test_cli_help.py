"""`julia --help` and every `julia ... --help`: each option has text (and its default), each subcommand a
description, the production commands name what they need from the environment."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from julia.cli import build_parser
from julia.commands import serve, worker


def parsers(
    parser: argparse.ArgumentParser, path: str = "julia"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, f"{path} {name}")


ALL = dict(parsers(build_parser()))


def test_the_walk_finds_every_command_and_perf_subcommand() -> None:
    assert {"julia seed", "julia dev", "julia serve", "julia worker", "julia perf gate"} <= set(ALL)


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_option_has_help_text(path: str) -> None:
    parser = ALL[path]
    bare = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()
    ]
    assert not bare, f"`{path} --help`: options without text: {bare}"


@pytest.mark.parametrize("path", sorted(p for p in ALL if p != "julia"))
def test_every_subcommand_has_a_whole_sentence_of_description(path: str) -> None:
    description = (ALL[path].description or "").strip()
    assert description, f"`{path} --help` has no description"
    assert description[-1] not in ",;:", f"`{path} --help` stops mid-sentence: {description!r}"


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_default_is_shown(path: str) -> None:
    text = ALL[path].format_help()
    for action in ALL[path]._actions:
        shown = action.option_strings and not action.required
        if shown and action.default not in (None, False, argparse.SUPPRESS):
            assert str(action.default) in text, f"`{path} --help` hides the default of {action.dest}"


@pytest.mark.parametrize(
    ("path", "needed"), [("julia serve", serve.REQUIRED), ("julia worker", worker.REQUIRED)]
)
def test_production_commands_name_the_environment_they_need(path: str, needed: tuple[str, ...]) -> None:
    text = " ".join(ALL[path].format_help().split())
    for name in (*needed, "database_url", "redis_url"):
        assert name.upper() in text
