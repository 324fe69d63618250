"""The perf gate's hard-gated cost counters (`counts` in perf/budgets.toml): Redis commands and Postgres
statements per call or message may not exceed their budget, nor grow past the baseline's. No servers."""

from __future__ import annotations

from pathlib import Path

from julia.perf.context import PROJECT
from julia.perf.engine.gate import Budget, Budgets, judge, load_budgets
from julia.perf.engine.results import Bench, Run

BUDGETS = Budgets(
    {
        "floor_redis_get": Budget(ceiling_ms=10),
        "cache_x_hit": Budget(ceiling_ms=10, counts=(("redis_commands", 2), ("pg_statements", 0))),
    }
)


def _run(redis_commands: int, pg_statements: int = 0) -> Run:
    run = Run({"machine_class": "test", "project": PROJECT.said(), "doctors": 1000})
    run.add(Bench("floor_redis_get", "floor", None, [0.1] * 50))
    counters = {"redis_commands": redis_commands, "pg_statements": pg_statements}
    run.add(Bench("cache_x_hit", "cache", "floor_redis_get", [0.12] * 50, counters))
    return run


def _failures(run: Run, baseline: Run | None = None) -> list[str]:
    return [f.message for v in judge(run, BUDGETS, baseline) for f in v.findings if f.severity == "fail"]


def test_within_budget_and_baseline_passes() -> None:
    assert _failures(_run(1), _run(1)) == []


def test_fewer_than_the_baseline_passes() -> None:
    assert _failures(_run(1), _run(2)) == []


def test_over_budget_fails() -> None:
    assert _failures(_run(1, pg_statements=1)) == ["pg_statements 1 > budget 0"]


def test_more_than_the_baseline_fails_within_budget() -> None:
    assert _failures(_run(2), _run(1)) == ["redis_commands 1 => 2 (baseline)"]


def test_budgets_file_reads_counts(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text("[bench.m]\nceiling_ms = 100\ncounts = { pg_statements = 14, redis_commands = 3 }\n")
    assert load_budgets(path).benches["m"].counts == (("pg_statements", 14), ("redis_commands", 3))
