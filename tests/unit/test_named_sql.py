"""Every named query parses, is defined once, and is run by julia's own code (no dead SQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from julia.queries import SQL_DIR, Critical, all_queries, critical, parse, sql

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
    owners = ("data", "seed", "perf")
    callers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] not in owners
        and p.name != "queries.py"
        and re.search(r"\bsql\(", p.read_text())
    )
    assert callers == []


def test_critical_tags_name_the_indexes_and_whether_the_statement_writes() -> None:
    found = critical()
    assert found["buscar_medico_por_telefone"] == Critical(
        "buscar_medico_por_telefone", ("idx_clientes_telefone",), mutates=False
    )
    assert found["reivindicar_entradas"].indexes == ("idx_entradas_fila", "idx_entradas_abertas")
    assert found["contar_conversas_ativas"].indexes == ()  # `-- critical: any plan`
    # A CTE's UPDATE or INSERT writes; a comment or `FOR UPDATE` alone does not.
    writes = {name for name, query in found.items() if query.mutates}
    assert {"reivindicar_mensagens", "registrar_entrada", "concluir_entrada", "registrar_opt_out"} <= writes
    assert not writes & {"buscar_vagas", "carregar_historico", "contar_fila_pendente"}


def test_the_perf_suite_measures_exactly_the_critical_queries() -> None:
    """julia/perf/critical.py draws parameters per query; it refuses to load when they and the tags differ."""
    from julia.perf.critical import CRITICAL

    assert {query.name for query in CRITICAL} == set(critical())
