"""Why a verdict moved (julia.perf.engine.diff, causes, deps; julia.perf.sources), on fixture data shaped as
the servers give it: pg_stat_statements rows, EXPLAIN (FORMAT JSON) trees, the stamp's dependencies. Each
injected regression must name its own cause first; unchanged code must say "no attributable change"."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from julia.perf import sources
from julia.perf.engine import causes, counting, deps, diff, explain
from julia.perf.engine.gate import Budget, Budgets, judge
from julia.perf.engine.results import Bench, Run
from julia.queries import sql

# pg_stat_statements' text of julia's statements: sent with their comments, constants as $n.
LOOKUP = sql("buscar_medico_por_telefone")
HISTORY = sql("carregar_historico")
PING = "SELECT $1"  # `SELECT 1` as pg_stat_statements normalizes it

SEQ_SCAN = {
    "Node Type": "Seq Scan",
    "Relation Name": "clientes",
    "Plan Rows": 1,
    "Actual Rows": 1,
    "Actual Loops": 1,
    "Shared Hit Blocks": 40,
    "Shared Read Blocks": 0,
}
INDEX_SCAN = {
    "Node Type": "Index Scan",
    "Relation Name": "clientes",
    "Index Name": "idx_clientes_telefone",
    "Plan Rows": 1,
    "Actual Rows": 1,
    "Actual Loops": 1,
    "Shared Hit Blocks": 3,
    "Shared Read Blocks": 0,
}


def _limit(child: dict[str, Any]) -> dict[str, Any]:
    hit = child["Shared Hit Blocks"]
    return {"Node Type": "Limit", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1,
            "Shared Hit Blocks": hit, "Shared Read Blocks": 0, "Plans": [child]}  # fmt: skip


def _statements(*rows: tuple[str, float, float, float], query_ids: dict[str, int] | None = None) -> list[Any]:
    return [
        {"query": q, "query_id": (query_ids or {}).get(q), "calls": c, "rows": r, "blocks": b}
        for q, c, r, b in rows
    ]


MESSAGE = _statements((LOOKUP, 1, 1, 3), (HISTORY, 1, 20, 12), ("BEGIN", 2, 0, 0))


def _message(statements: list[Any], redis: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "unit": "message",
        "pg_statements": int(sum(s["calls"] for s in statements)),
        "pg_by_statement": statements,
        "redis_commands": sum((redis or {"get": 2}).values()),
        "redis_by_command": redis or {"get": 2},
    }


def _query(plan: dict[str, Any]) -> dict[str, Any]:
    return {"plan_tree": explain.flatten(plan), "plan_nodes": [], "query_id": 77}


BUDGETS = Budgets(
    {
        "floor": Budget(ceiling_ms=10),
        "message_path": Budget(ceiling_ms=1000, counts=(("pg_statements", 10),)),
        "query_lookup_warm": Budget(ceiling_ms=100),
    }
)


def _run(
    head: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]], stamp: dict[str, Any] | None = None
) -> Run:
    """Head and base runs with these counters; the head 1.3x slower on every benchmark, so each one is
    judged FAIL or inconclusive and explained."""

    def side(counters: dict[str, dict[str, Any]], factor: float) -> Run:
        run = Run({"doctors": 1000, **(stamp or {})})
        run.add(Bench("floor", "floor", None, _samples(0.1), blocks=[25] * 8))
        for name, c in counters.items():
            run.add(Bench(name, "g", "floor", _samples(factor), c, blocks=[25] * 8))
        return run

    run = side(head, 1.3)
    run.base = side(base, 1.0)
    return run


def _samples(median: float) -> list[float]:
    return [median * (1.0 + (i % 7) / 100) for i in range(200)]


def _causes(run: Run, also: Iterable[str] = ()) -> dict[str, causes.Cause]:
    return causes.explain(run, judge(run, BUDGETS), also)


def test_per_statement_evidence_is_kept_per_unit_from_the_servers_snapshots() -> None:
    def snap(calls: int, rows: int, blocks: int) -> counting.Snapshot:
        pg = {
            LOOKUP: counting.Executed(calls, rows, blocks, 77),
            "RESET ALL": counting.Executed(calls, 0, 0),
            "CLOSE ALL": counting.Executed(calls, 0, 0),
        }
        return counting.Snapshot(pg, {"get": calls})

    costs = [counting.cost(snap(i, i, 3 * i), snap(i + 1, i + 1, 3 * i + 3)) for i in range(4)]
    typical = counting.typical(costs, unit="message")
    assert typical["pg_statements"] == 1
    assert typical["pg_pool_resets"] == 1
    assert typical["unit"] == "message"
    assert typical["pg_by_statement"] == [
        {"query": LOOKUP, "query_id": 77, "calls": 1.0, "rows": 1.0, "blocks": 3.0}
    ]


def test_julia_statements_are_named_by_file_and_query() -> None:
    run = Run({})
    counters = _message(_statements((LOOKUP, 1, 1, 3), (PING, 1, 1, 0), ("SELECT pg_sleep($1)", 1, 1, 0)))
    run.add(Bench("message_path", "g", None, [1.0], counters))
    sources.name_statements(run)
    named = {row["query"]: row.get("source") for row in counters["pg_by_statement"]}
    assert named == {
        LOOKUP: "julia/sql/clientes.sql:buscar_medico_por_telefone",
        PING: "julia/sql/operacao.sql:ping",
        "SELECT pg_sleep($1)": None,
    }
    assert sources.shape("SELECT a FROM t WHERE b = 'x' -- why\n AND c = 3") == sources.shape(
        "select a from t where b = $1 and c = $2"
    )
    # PostgreSQL 18 squashes a list of constants into one parameter.
    assert sources.shape("WHERE s IN ('a', 'b')") == sources.shape("WHERE s IN ($2 /*, ... */)")
    assert sources.shape("format('a '\n 'b', x)") == sources.shape("format($1, x)")
    assert sources.shape("least(extract(epoch FROM a - b), 60)") == sources.shape(
        "least(extract($3 from a - b), $4)"
    )


def test_statement_diff_names_added_removed_and_changed_and_ignores_noise() -> None:
    head = _message(
        _statements((LOOKUP, 1, 1, 40), (HISTORY, 2, 40, 24), (PING, 1, 1, 0), ("SET x", 0.1, 0, 0))
    )
    base = _message(_statements((LOOKUP, 1, 1, 3), (HISTORY, 1, 20, 12.5), ("BEGIN", 2, 0, 0)))
    moved = diff.statements(head, base)
    assert moved is not None
    assert [(s.change, s.query, s.moved) for s in moved] == [
        ("added", PING, ("calls",)),
        ("removed", "BEGIN", ("calls",)),
        ("changed", HISTORY, ("calls", "rows", "blocks")),
        ("changed", LOOKUP, ("blocks",)),
    ]  # "SET x" a tenth of the messages on one side only: a stranger's, not a change
    assert diff.statements(head, {"pg_statements": 3}) is None  # a base that kept no evidence


def test_a_julia_query_rewritten_between_the_sides_is_one_statement_not_an_added_and_a_removed() -> None:
    """buscar_vagas' text changed on 2026-12-07 with its calls the same: the cause read '+1 statement per
    message' for a reservation that ran exactly the statements its base did."""
    old, new = f"{LOOKUP} AND true", f"{LOOKUP} AND 1 = 1"
    base = _message([{**row, "source": "julia/sql/x.sql:q"} for row in _statements((old, 1, 1, 3))])
    same = _message([{**row, "source": "julia/sql/x.sql:q"} for row in _statements((new, 1, 1, 3))])
    more = _message([{**row, "source": "julia/sql/x.sql:q"} for row in _statements((new, 2, 2, 6))])
    assert diff.statements(same, base) == []
    moved = diff.statements(more, base)
    assert moved is not None
    assert [(s.change, s.query, s.source, s.moved) for s in moved] == [
        ("changed", new, "julia/sql/x.sql:q", ("calls", "rows", "blocks"))
    ]


def test_redis_diff_by_command() -> None:
    moved = diff.commands(
        {"redis_by_command": {"get": 1, "set": 1}}, {"redis_by_command": {"get": 2, "del": 1}}
    )
    assert [(c.change, c.name, c.head, c.base) for c in moved or []] == [
        ("removed", "del", 0, 1),
        ("changed", "get", 1, 2),
        ("added", "set", 1, 0),
    ]


def test_plan_diff_marks_the_first_node_that_differs() -> None:
    moved = diff.plan(_query(_limit(SEQ_SCAN)), _query(_limit(INDEX_SCAN)))
    assert moved is not None
    assert moved.shape_changed
    assert [(r.differs, r.first) for r in moved.rows] == [(False, False), (True, True)]
    first = moved.first
    assert first is not None
    assert diff.describe(first.base) == "Index Scan using idx_clientes_telefone on clientes"
    assert diff.describe(first.head) == "Seq Scan on clientes"
    assert moved.buffers == (40, 3)
    assert diff.plan(_query(_limit(INDEX_SCAN)), _query(_limit(INDEX_SCAN))) is None


def test_same_plan_with_more_buffers_or_a_spilled_sort_is_a_figure_change() -> None:
    grown = dict(INDEX_SCAN, **{"Shared Hit Blocks": 30})
    moved = diff.plan(_query(_limit(grown)), _query(_limit(INDEX_SCAN)))
    assert moved is not None
    assert not moved.shape_changed
    assert moved.buffers == (30, 3)
    # The Limit's blocks are its child's: the first node whose own blocks moved is the scan.
    assert [(r.differs, r.first) for r in moved.rows] == [(False, False), (True, True)]
    assert moved.first is not None
    assert moved.first.head == explain.flatten(grown, 1)[0]
    # The first key's tree moved but the worst key's blocks did not (a writing query's dead rows): no change.
    worst = {"buffers": 30}
    assert diff.plan({**_query(_limit(grown)), **worst}, {**_query(_limit(INDEX_SCAN)), **worst}) is None
    assert diff.plan({**_query(_limit(grown)), **worst}, {**_query(_limit(INDEX_SCAN)), "buffers": 3})
    spilled = {"Node Type": "Sort", "Sort Space Type": "Disk", "Shared Hit Blocks": 3, "Plans": [INDEX_SCAN]}
    in_memory = dict(spilled, **{"Sort Space Type": "Memory"})
    spill = diff.plan(_query(spilled), _query(in_memory))
    assert spill is not None
    assert spill.first is not None
    assert spill.first.head == explain.node(spilled, 0)
    assert diff.describe(explain.node(spilled, 0)) == "Sort (spilled to disk)"


def _generic(plan: dict[str, Any], generic: int, custom: int) -> dict[str, Any]:
    """A query whose custom plan (values filled in) is the index scan, with this generic plan beside it and
    pg_prepared_statements' counts of which one its timed calls ran."""
    tree = explain.flatten(plan)
    return {
        **_query(_limit(INDEX_SCAN)),
        "generic": {"plan_tree": tree, "plan_nodes": [n["node"] for n in tree]},
        "plans_run": {"generic": generic, "custom": custom},
    }


def test_a_generic_plan_that_moved_is_named_even_when_the_custom_plan_did_not() -> None:
    """The shift search's regression of 2026-12-07: the custom EXPLAIN was the same on both sides, the
    generic plan the timed calls ran after their fifth call was not."""
    head, base = _generic(_limit(SEQ_SCAN), 7000, 5), _generic(_limit(INDEX_SCAN), 7000, 5)
    assert diff.plan(head, base) is None
    assert diff.ran_generic(head)
    found = _causes(_run({"query_lookup_warm": head}, {"query_lookup_warm": base}))["query_lookup_warm"]
    plan = "Index Scan using idx_clientes_telefone on clientes -> Seq Scan on clientes"
    assert found.line == f"plan changed (generic plan, the one the timed calls ran): {plan}"
    # A generic plan the timed calls did not run still shows, below what they did run.
    custom_ran = _generic(_limit(SEQ_SCAN), 0, 7005)
    assert not diff.ran_generic(custom_ran)
    cause = _causes(_run({"query_lookup_warm": custom_ran}, {"query_lookup_warm": base}))["query_lookup_warm"]
    assert cause.line == f"plan changed (generic plan): {plan}"
    warned = judge(_run({"query_lookup_warm": head}, {"query_lookup_warm": base}), BUDGETS)
    assert any("generic plan changed from the base's" in f.message for v in warned for f in v.findings)


def test_extra_query_names_the_added_statement_and_its_sql_file_first() -> None:
    head = _message([*MESSAGE, *_statements((PING, 1, 1, 0))])
    run = _run({"message_path": head}, {"message_path": _message(MESSAGE)})
    sources.name_statements(run)
    cause = _causes(run)["message_path"]
    assert cause.line == "+1 statement per message: `SELECT $1` (julia/sql/operacao.sql:ping)"


def test_drop_index_names_the_plan_change_and_the_index_first_also_for_a_message_that_runs_it() -> None:
    ids = {LOOKUP: 77}
    head_message = _message(_statements((LOOKUP, 1, 1, 40), ("BEGIN", 2, 0, 0), query_ids=ids))
    base_message = _message(_statements((LOOKUP, 1, 1, 3), ("BEGIN", 2, 0, 0), query_ids=ids))
    run = _run(
        {"query_lookup_warm": _query(_limit(SEQ_SCAN)), "message_path": head_message},
        {"query_lookup_warm": _query(_limit(INDEX_SCAN)), "message_path": base_message},
    )
    sources.name_statements(run)
    found = _causes(run)
    plan = "Index Scan using idx_clientes_telefone on clientes -> Seq Scan on clientes"
    assert found["query_lookup_warm"].line == f"plan changed: {plan}"
    message = found["message_path"]
    assert message.line == f"plan changed in julia/sql/clientes.sql:buscar_medico_por_telefone: {plan}"
    assert [e.kind for e in message.candidates] == ["plan", "statements"]
    assert message.candidates[1].line.startswith("blocks 3 -> 40 per message: `SELECT id, telefone")


def test_unchanged_code_has_no_attributable_change() -> None:
    counters = {"query_lookup_warm": _query(_limit(INDEX_SCAN)), "message_path": _message(MESSAGE)}
    found = _causes(_run(counters, counters))
    assert set(found) == {"query_lookup_warm", "message_path"}  # both slower, so both explained
    assert {c.line for c in found.values()} == {causes.NOTHING}


def test_a_dependency_change_is_a_candidate_after_the_code_s_own_evidence() -> None:
    changes = deps.difference(
        {"redis": "7.0.1"},
        {"redis": "7.0.1", "hiredis": "3.3.0"},
        {"redis": "redis>=5.2"},
        {"redis": "redis[hiredis]>=5.2"},
    )
    assert changes == {
        "removed": {"hiredis": "3.3.0"},
        "declared": {"redis": ["redis[hiredis]>=5.2", "redis>=5.2"]},
    }
    line = "dependencies changed: hiredis 3.3.0 removed; declared redis[hiredis]>=5.2 -> redis>=5.2"
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters, {"ab": {"dependencies": changes}})
    assert (
        _causes(run)["message_path"].line == f"{line} (whether this benchmark runs them: no profile to tell)"
    )
    head = _message([*MESSAGE, *_statements((PING, 1, 1, 0))])
    both = _run({"message_path": head}, counters, {"ab": {"dependencies": changes}})
    assert [e.kind for e in _causes(both)["message_path"].candidates] == ["statements", "dependencies"]


def test_a_dependency_the_benchmark_never_ran_is_not_a_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter's metadata says which distribution installs which import name.
    monkeypatch.setattr(deps, "_import_names", lambda: {"otava": ["apache-otava"]})
    changes = {"removed": {"hiredis": "3.3.0"}, "added": {"apache-otava": "0.8.0"}}
    julia_only = {"julia/cache/store.py:Cache.read": (1.0, 10.0)}
    with_hiredis = {**julia_only, "hiredis/__init__.py:Reader.gets": (1.0, 4.0)}
    assert not deps.ran(changes, julia_only)
    assert deps.ran(changes, with_hiredis)  # the base, which had it, ran it
    assert not deps.ran(
        {"added": {"apache-otava": "0.8.0"}}, ["redis/asyncio/client.py:Redis.execute_command"]
    )
    assert deps.ran({"added": {"apache-otava": "0.8.0"}}, ["otava/analysis.py:compute_change_points"])


def test_declared_requirements_are_read_per_group_with_their_extras(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["redis[hiredis]>=5.2", "Foo_Bar"]\n'
        '[project.optional-dependencies]\nperf = ["numpy>=2"]\n'
    )
    assert deps.declared(tmp_path) == {
        "redis": "redis[hiredis]>=5.2",
        "foo-bar": "Foo_Bar",
        "numpy (perf)": "numpy>=2",
    }
    assert deps.difference({}, {}, {}, {}) == {}


def _profile(functions: dict[str, tuple[float, float]], caller: str) -> dict[str, Any]:
    """A side's profile (julia.perf.engine.profile): per function (calls, self us) per unit, 8 chunks."""
    cpu = sum(own for _, own in functions.values())
    return {
        "units": 20,
        "chunks": 8,
        "cpu_us": [cpu + k * 0.1 for k in range(8)],
        "functions": {
            key: {
                "calls": [calls] * 8,
                "self_us": [own + k * 0.01 for k in range(8)],
                "callers": {caller: calls},
            }
            for key, (calls, own) in functions.items()
        },
    }


def test_a_function_that_sleeps_is_named_by_its_calls_from_the_profiles() -> None:
    """The sleep injection: no statement, no plan, almost no CPU; the profiles' exact call counts name the
    sleep and the function that makes it."""
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters)
    work = {"julia/worker/reply.py:processar": (1.0, 300.0)}
    caller = "julia/perf/context.py:Perf.injected_sleep"
    run.benches["message_path"].profile = _profile({**work, "asyncio/tasks.py:sleep": (1.0, 2.0)}, caller)
    assert run.base is not None
    run.base.benches["message_path"].profile = _profile(work, caller)
    cause = _causes(run)["message_path"]
    assert cause.line == f"+1 calls/resumptions per message of asyncio/tasks.py:sleep (called from {caller})"
    assert [e.kind for e in cause.candidates] == ["profile"]


def test_an_ok_benchmark_is_explained_when_asked_for() -> None:
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters)
    for bench in run.benches.values():  # head as fast as the base: every verdict ok
        bench.samples_ms = run.base.benches[bench.name].samples_ms if run.base else []
    assert "message_path" not in _causes(run)
    assert _causes(run, ["message_path"])["message_path"].line == causes.NOTHING


def test_a_cpu_change_is_said_only_where_the_timing_moved_the_same_way() -> None:
    """Measured on unchanged code: a library function that does the I/O (asyncpg's _do_execute) read 8 us
    more CPU per call on the side whose turn met a busier machine, while the benchmark's interval held 1.
    Its calls, exact, are said whatever the timing did."""
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters)
    assert run.base is not None
    for bench in run.benches.values():  # head as fast as the base: the interval holds 1
        bench.samples_ms = run.base.benches[bench.name].samples_ms
    io = "asyncpg/connection.py:Connection._do_execute"
    caller = "asyncpg/connection.py:Connection.__execute"
    run.benches["message_path"].profile = _profile({io: (1.0, 28.0), "x.py:rest": (1.0, 100.0)}, caller)
    run.base.benches["message_path"].profile = _profile({io: (1.0, 20.0), "x.py:rest": (1.0, 100.0)}, caller)
    assert _causes(run, ["message_path"])["message_path"].line == causes.NOTHING
    run.benches["message_path"].profile = _profile({io: (2.0, 20.0), "x.py:rest": (1.0, 100.0)}, caller)
    line = _causes(run, ["message_path"])["message_path"].line
    assert line == f"+1 calls/resumptions per message of {io} (called from {caller})"


def test_an_ok_that_only_rules_out_the_slowdown_it_must_catch_is_explained_when_something_moved() -> None:
    """Measured: a loop added to the reply, the message path 1.078x (1.001-1.152), ok against the 1.2x it
    must catch; its function still gets a line. The same ok with nothing found is not listed."""
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters)
    assert run.base is not None
    base_ms = run.base.benches["message_path"].samples_ms
    # eight blocks of 25 samples, the head 1.02x in one and 1.14x in the next: the interval straddles 1.10x
    run.benches["message_path"].samples_ms = [
        ms * (1.02 if i // 25 % 2 else 1.14) for i, ms in enumerate(base_ms)
    ]
    held = dataclasses.replace(BUDGETS, must_catch={"g": 1.2})
    verdicts = judge(run, held)
    [path] = [v for v in verdicts if v.name == "message_path"]
    assert path.ab is not None
    assert (path.status, path.ab.below_threshold) == ("ok", False)
    assert "message_path" not in causes.explain(run, verdicts)
    loop = "julia/worker/reply.py:dynamic_context"
    run.benches["message_path"].profile = _profile({loop: (1.0, 400.0), "x.py:rest": (1.0, 2_000.0)}, "r")
    run.base.benches["message_path"].profile = _profile({loop: (1.0, 50.0), "x.py:rest": (1.0, 2_000.0)}, "r")
    explained = causes.explain(run, verdicts)
    assert explained["message_path"].line.startswith(f"+0.350 ms CPU per message in {loop}")


def test_a_virtualenvs_own_tooling_is_not_a_dependency() -> None:
    """virtualenv seeds pip and setuptools, uv seeds nothing: two sides built by different tools must not
    differ by those alone (they came first in every cause line of an A/B against an older base)."""
    import sys

    found = deps.installed(sys.executable)
    assert "pytest" in found
    assert not deps.VENV_TOOLING & set(found)


BUSY_WAIT = {  # buscar_medico_por_telefone with `AND (SELECT count(*) FROM generate_series(1, 4000)) > 0`
    "Node Type": "Result",
    "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1, "Shared Hit Blocks": 3, "Shared Read Blocks": 0,
    "Plans": [
        {"Node Type": "Aggregate", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1,
         "Shared Hit Blocks": 0, "Shared Read Blocks": 0,
         "Plans": [{"Node Type": "Function Scan", "Plan Rows": 4000, "Actual Rows": 4000, "Actual Loops": 1,
                    "Shared Hit Blocks": 0, "Shared Read Blocks": 0}]},
        INDEX_SCAN,
    ],
}  # fmt: skip


def _timed(counters: dict[str, Any], server_ms: float) -> dict[str, Any]:
    """A query's counters with its mean server time (perf/conftest.py's `pgss`)."""
    return {**counters, "pgss": {"calls": 3000, "mean_exec_ms": server_ms}}


def test_a_busy_wait_put_on_top_of_a_plan_names_what_was_added_and_the_database() -> None:
    """A server-side busy-wait in buscar_medico_por_telefone's SQL (measured: 4.1x on its query, 1.8x on
    the cache miss): the index scan was kept, so "Index Scan -> Result" (its first node) misled; the
    line names the nodes added and the statement's server time, for the miss through its queryid."""
    ids = {LOOKUP: 77}
    miss = _message(_statements((LOOKUP, 1, 1, 3), query_ids=ids)) | {"unit": "call"}
    run = _run(
        {"query_lookup_warm": _timed(_query(BUSY_WAIT), 0.2895), "cache_miss": miss},
        {"query_lookup_warm": _timed(_query(INDEX_SCAN), 0.0083), "cache_miss": miss},
    )
    sources.name_statements(run)
    found = _causes(run)
    added = "added Result, Aggregate, Function Scan (4000 rows)"
    server = "server time 34.9x the base's (0.0083 -> 0.2895 ms): the database's own work"
    assert found["query_lookup_warm"].line == f"plan changed: {added}; {server}"
    where = "julia/sql/clientes.sql:buscar_medico_por_telefone"
    assert found["cache_miss"].line == f"plan changed in {where}: {added}; {server}"


def test_a_busy_wait_that_keeps_the_plan_names_the_statement_s_server_time_also_for_a_unit_that_runs_it() -> (
    None
):
    """The busy-wait in an expression (no node added): the server time is the evidence, named with the
    statement, on its own benchmark and on every unit of work that sends it, whose time moved by as much;
    a move too small to matter for the unit, or more than the unit moved, is not said."""
    ids = {LOOKUP: 77}
    miss = _message(_statements((LOOKUP, 1, 1, 3), query_ids=ids)) | {"unit": "call"}
    query = _query(_limit(INDEX_SCAN))
    run = _run(
        {"query_lookup_warm": _timed(query, 0.40), "cache_miss": miss},
        {"query_lookup_warm": _timed(query, 0.01), "cache_miss": miss},
    )
    sources.name_statements(run)
    assert {c.line for c in _causes(run).values()} == {causes.NOTHING}  # 1.3x slower: 0.03 of 0.39 ms
    assert run.base is not None
    for name in ("query_lookup_warm", "cache_miss"):  # 0.1 ms units 0.4 ms slower
        run.benches[name].samples_ms = [5 * ms for ms in run.base.benches[name].samples_ms]
    found = _causes(run)
    where = "julia/sql/clientes.sql:buscar_medico_por_telefone"
    server = "40.0x the base's (0.0100 -> 0.4000 ms)"
    assert found["query_lookup_warm"].line == f"server time of {where} {server}: the database's own work"
    assert found["cache_miss"].line == (
        f"server time of {where} {server} (its benchmark query_lookup_warm): the database's own work"
    )
    # 1.5x of a 0.001 ms statement is 0.5 us, under SERVER_SHARE of a 1 ms unit: not a cause.
    run.benches["query_lookup_warm"].counters = _timed(query, 0.0015)
    assert run.base is not None
    run.base.benches["query_lookup_warm"].counters = _timed(query, 0.001)
    assert {c.line for c in _causes(run).values()} == {causes.NOTHING}


def test_a_server_time_that_moved_while_the_benchmark_s_time_did_not_is_not_a_cause() -> None:
    """Seen in an A/A run: a writing query's mean server time 0.504x the base's (0.1565 -> 0.0788 ms), its
    budgets held and no same-run timing (timing = false); likewise a query whose interval held 1."""
    query = _query(_limit(INDEX_SCAN))
    run = _run({"query_lookup_warm": _timed(query, 0.0788)}, {"query_lookup_warm": _timed(query, 0.1565)})
    assert run.base is not None
    for bench in run.benches.values():  # head as fast as the base: the interval holds 1
        bench.samples_ms = run.base.benches[bench.name].samples_ms
    assert _causes(run, ["query_lookup_warm"])["query_lookup_warm"].line == causes.NOTHING
    for bench in (run.benches["query_lookup_warm"], run.base.benches["query_lookup_warm"]):
        bench.blocks = None  # no same-run interval, budgets held
    assert _causes(run, ["query_lookup_warm"])["query_lookup_warm"].line == causes.NOTHING


def test_the_functions_are_ranked_by_the_cpu_each_change_accounts_for() -> None:
    """A re-run of the reply's loop: its head profiled messages found a shift list expired (0.8 reloads per
    message: +19 calls of the codec, 0.12 ms) beside the loop's 0.47 ms in dynamic_context; the CPU that
    moved most comes first, whether a calls change or a CPU change names it."""
    counters = {"message_path": _message(MESSAGE)}
    run = _run(counters, counters)
    caller = "julia/worker/reply.py:_reply"
    base = _profile(
        {"julia/worker/reply.py:dynamic_context": (1.0, 50.0), "x.py:rest": (1.0, 20_000.0)}, caller
    )
    head = _profile(
        {
            "julia/worker/reply.py:dynamic_context": (1.0, 520.0),
            "x.py:rest": (1.0, 20_000.0),
            "julia/cache/codec.py:plain": (19.0, 1.0),
        },
        caller,
    )
    for side, plain_us in ((head, 120.0), (base, 0.0)):
        for key, figures in side["functions"].items():
            figures["total_us"] = [plain_us if key.endswith(":plain") else figures["self_us"][0]] * 8
    run.benches["message_path"].profile = head
    assert run.base is not None
    run.base.benches["message_path"].profile = base
    lines = [e.line for e in _causes(run)["message_path"].candidates]
    assert lines[0].startswith("+0.470 ms CPU per message in julia/worker/reply.py:dynamic_context")
    assert lines[1].startswith("+19 calls/resumptions per message of julia/cache/codec.py:plain")


def test_a_dropped_hiredis_is_named_with_the_functions_that_gained() -> None:
    """Measured: a head without redis-py's `hiredis` extra, its cache hits 1.13x. hiredis is a C extension:
    its functions have no file ("<method 'gets' of 'hiredis.Reader' objects>"), so the base's profile
    showed it ran only by those names; the line then says where the time went in the head."""
    changes = {"removed": {"hiredis": "3.5.0"}, "declared": {"redis": ["redis[hiredis]>=5.2", "redis>=5.2"]}}
    assert deps.ran(changes, ["<method 'gets' of 'hiredis.Reader' objects>"])
    assert deps.ran(changes, ["<built-in method hiredis.hiredis.pack_command>"])
    assert not deps.ran(changes, ["<built-in method builtins.len>", "<method 'append' of 'list' objects>"])
    counters = {"cache_hit": _message(MESSAGE) | {"unit": "call"}}
    run = _run(counters, counters, stamp={"ab": {"dependencies": changes}})
    caller = "redis/asyncio/connection.py:AbstractConnection._read_response_from_parser"
    parser = "redis/_parsers/resp3.py:_AsyncRESP3Parser.read_response"
    base = _profile(
        {"<method 'gets' of 'hiredis.Reader' objects>": (2.0, 3.0), "x.py:rest": (1.0, 500.0)}, caller
    )
    head = _profile({parser: (2.0, 40.0), "x.py:rest": (1.0, 500.0)}, caller)
    for side in (head, base):
        for figures in side["functions"].values():
            figures["total_us"] = figures["self_us"]
    run.benches["cache_hit"].profile = head
    assert run.base is not None
    run.base.benches["cache_hit"].profile = base
    line = _causes(run)["cache_hit"].line
    assert line.startswith(
        "dependencies changed: hiredis 3.5.0 removed; declared redis[hiredis]>=5.2 -> redis>=5.2; "
        f"the functions that gained: {parser} (+40.0 us CPU per call)"
    )
