"""Every named query parses, is defined once, and is run by julia's own code (no dead SQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from julia.queries import SQL_DIR, all_queries, parse, sql

PACKAGE = Path(__file__).resolve().parents[2] / "julia"


def test_parse_splits_named_blocks_and_keeps_their_comments() -> None:
    text = "-- name: a\n-- why a\nSELECT 1;\n\n-- name: b\nSELECT 2\n"
    assert parse(text) == {"a": "-- why a\nSELECT 1", "b": "SELECT 2"}


def test_a_name_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


def test_unknown_name_says_which() -> None:
    with pytest.raises(KeyError, match="no_such_query"):
        sql("no_such_query")


def test_every_named_query_is_used_by_julia() -> None:
    code = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    used = set(re.findall(r"""sql\(\s*["'](\w+)["']""", code))
    unused = sorted(set(all_queries()) - used)
    assert not unused, f"named SQL nobody runs (delete it or use it): {unused}"
    assert sorted(SQL_DIR.glob("*.sql")), "no SQL files found"


def test_only_the_data_layer_runs_named_sql() -> None:
    """julia/data owns the statements (its package docstring); the seed and the perf suite's plan reader
    are its stated exceptions."""
    donos = ("data", "seed", "perf")
    chamadores = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] not in donos
        and p.name != "queries.py"
        and re.search(r"\bsql\(", p.read_text())
    )
    assert chamadores == []
