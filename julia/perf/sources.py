"""julia's name for a statement the servers counted: the SQL file and query name (julia/sql/*.sql, the
`-- name:` blocks julia.queries loads) whose text pg_stat_statements recorded, so the evidence of a
changed verdict reads "julia/sql/vagas.sql:buscar_vagas" rather than a bare SELECT.

pg_stat_statements keeps a statement's text as it was sent (julia's comments included) with each constant
replaced by $n (and, from PostgreSQL 18, a list of them by one); both sides are brought to one shape
(comments out, every constant and parameter a `?`, a list of them one `?`, whitespace collapsed) and
matched exactly. A statement no file holds (a driver's, a test's) gets no name.
Each side of an A/B run names its own statements with its own files (perf/conftest.py), so a query that
moved between files is still named right on both.
"""

from __future__ import annotations

import re
from pathlib import Path

from julia.perf.engine.results import Run
from julia.queries import SQL_DIR, parse

_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")
_PARAMETER = re.compile(r"\$\d+")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_WORD_CONSTANT = re.compile(r"\b(?:true|false|null)\b", re.IGNORECASE)
# PostgreSQL 18 records a list of constants as one: `IN ($2 /*, ... */)`; a list of `?` is one `?` here.
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
# 'a' 'b' on two lines is one string constant in SQL, and one $n in pg_stat_statements.
_ADJACENT = re.compile(r"\?(?:\s+\?)+")
# EXTRACT(epoch FROM x) is extract('epoch', x) to the parser: its field is a constant, a $n in
# pg_stat_statements (criar_campanha went unnamed for it, and its rewrite read as an added statement).
_EXTRACT_FIELD = re.compile(r"\b(extract\s*\(\s*)[a-z_]+(\s+from\b)", re.IGNORECASE)


def shape(text: str) -> str:
    """A statement with its comments, constants and parameters gone: the form two texts are matched in."""
    for pattern in (_BLOCK_COMMENT, _LINE_COMMENT):
        text = pattern.sub(" ", text)
    text = _EXTRACT_FIELD.sub(r"\1?\2", text)
    for pattern in (_STRING, _PARAMETER, _NUMBER, _WORD_CONSTANT):
        text = pattern.sub("?", text)
    text = _LIST.sub("(?)", _ADJACENT.sub("?", text))
    return " ".join(text.split()).rstrip(";").strip().lower()


def locations(sql_dir: Path = SQL_DIR) -> dict[str, str]:
    """Each named statement's shape -> "julia/sql/<file>:<name>" (" or " between names sharing one)."""
    found: dict[str, str] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        for name, statement in parse(path.read_text()).items():
            where = f"julia/sql/{path.name}:{name}"
            key = shape(statement)
            found[key] = f"{found[key]} or {where}" if key in found else where
    return found


def name_statements(run: Run, sql_dir: Path = SQL_DIR) -> None:
    """Adds `source` to every counted statement of `run` that is one of julia's named queries."""
    known = locations(sql_dir)
    for bench in run.benches.values():
        for row in bench.counters.get("pg_by_statement") or []:
            source = known.get(shape(str(row.get("query", ""))))
            if source:
                row["source"] = source
