"""Named SQL: every statement julia runs lives in julia/sql/<table>.sql under a `-- name: x` header.

Loaded once, at first use. Keeping SQL in .sql files lets the perf suite and the plan tests run the very
text the service runs, and lets a reviewer read every query of a table in one place.

A query the service cannot afford to get slow carries a `-- critical: <index>, <index>` line among its
header's comments: the indexes its plan must use (tests/integration/test_plans.py checks both its custom
and its generic plan), or `-- critical: any plan` and the reason beside it when the planner's choice is
rightly left open. The perf suite measures every critical query (julia/perf/critical.py); this tag is the
one list both read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_CRITICAL = re.compile(r"^--\s*critical:\s*(.+?)\s*$", re.MULTILINE)
ANY_PLAN = "any plan"
# A statement that writes runs inside a transaction rolled back after each call wherever it is measured,
# so every call sees the same rows (`FOR UPDATE` alone is a lock, not a write).
_WRITES = re.compile(r"\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+(\s+\w+)?\s+SET)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Critical:
    name: str
    indexes: tuple[str, ...]  # each must appear in its plans; empty for `-- critical: any plan`
    mutates: bool


def parse(text: str) -> dict[str, str]:
    """Split one .sql file into {name: statement}; the comment lines after a header are kept as its why."""
    parts = _HEADER.split(text)
    named: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in named:
            raise ValueError(f"query {name!r} is defined twice")
        named[name] = body.strip().rstrip(";")
    return named


@cache
def all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        for name, statement in parse(path.read_text()).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined in two files")
            queries[name] = statement
    return queries


@cache
def critical() -> dict[str, Critical]:
    """Every query tagged `-- critical:`, by name, in file and then header order."""
    found: dict[str, Critical] = {}
    for name, statement in all_queries().items():
        tag = _CRITICAL.search(statement)
        if tag is None:
            continue
        value = tag.group(1)
        indexes = () if value.startswith(ANY_PLAN) else tuple(i.strip() for i in value.split(","))
        found[name] = Critical(name, indexes, _WRITES.search(_code(statement)) is not None)
    return found


def _code(statement: str) -> str:
    """The statement without its comment lines (a comment saying "UPDATE x SET" writes nothing)."""
    return "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))


def sql(name: str) -> str:
    """The statement named `name`; KeyError names it when missing."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL named {name!r} in {SQL_DIR}") from None
