"""Named SQL: every statement julia runs lives in julia/sql/<table>.sql under a `-- name: x` header.

Loaded once, at first use. Keeping SQL in .sql files lets the perf suite and the plan tests run the very
text the service runs, and lets a reviewer read every query of a table in one place.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


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


def sql(name: str) -> str:
    """The statement named `name`; KeyError names it when missing."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL named {name!r} in {SQL_DIR}") from None
