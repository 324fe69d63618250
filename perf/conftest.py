"""The perf session: servers (julia.servers.resolve), a private database migrated and seeded with
`--doctors` synthetic doctors, one long-lived connection on pytest-asyncio's one session event loop,
and the recorder every benchmark module hands its results to.

Adding a benchmark: a `test_<workload>.py` here that times with `perf.measure` or `perf.measure_paired`
(they pass the run's turns and calibration slowdown), records a `Bench`, and its entry in budgets.toml.
At the end the run is written to `--results` (JSON); `julia perf gate` judges it and renders the report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.metadata
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvloop

from julia import servers
from julia.perf import sources
from julia.perf.context import PROJECT, Perf
from julia.perf.critical import CRITICAL, Params, pick_params
from julia.perf.engine import results
from julia.perf.engine.turns import SIDE, TurnTaking
from julia.seed.database import seeded_database
from julia.testing.fixtures import services as services

# The checkout this suite measures (its commit and dependency files go into the stamp).
CHECKOUT = Path(__file__).resolve().parent.parent
# Each side of an A/B run (julia.perf.engine.ab) has a database of its own on the same server.
DATABASE = os.environ.get(PROJECT.variable("DATABASE"), PROJECT.databases)
SEED = 42
# The seed's day is fixed, so every run (and both sides of one) holds the same rows whatever the calendar
# says; it is recorded in the results' stamp. Rows scheduled after it are all due by now.
TODAY = dt.date(2026, 11, 25)
# The index the drop-index injection removes: the first lookup of every inbound message.
INJECT_DROP_INDEX = "idx_clientes_telefone"
# Modules that write conversations, inbound rows and queued replies, in the order they run: after every
# other module, so the queries and the queue claim always measure the seed as it was built.
WRITERS_LAST = ("test_message_path.py", "test_webhook_load.py", "test_campanhas.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("julia perf")
    group.addoption("--doctors", type=int, default=1000, help="synthetic doctors to seed (default 1,000)")
    group.addoption(
        "--results", type=Path, default=Path("reports/out/results.json"), help="where the run goes"
    )
    group.addoption("--samples", type=int, default=2000, help="timed samples per warm benchmark")
    group.addoption(
        "--today",
        type=dt.date.fromisoformat,
        default=TODAY,
        help=f"the seed's day, YYYY-MM-DD (default {TODAY}: fixed, so runs hold the same rows)",
    )
    group.addoption(
        "--inject-slowdown",
        type=float,
        default=1.0,
        help="calibration: every timed call made this many times slower by CPU work (julia perf calibrate)",
    )
    group.addoption(
        "--inject-regression",
        choices=["drop-index", "sleep", "extra-query", "copy-context"],
        default=None,
        help="deliberately slow julia down (copy-context: allocate more per message), to show the gate fails",
    )
    group.addoption(
        "--allocations-only",
        action="store_true",
        help="calibration: only the warm benchmarks' traced allocations (perf/allocations_accuracy.py)",
    )
    group.addoption(
        "--no-profiles-or-allocations",
        action="store_true",
        help="measuring what the evidence costs: skip the untimed profile chunks and allocation tracing "
        "after each warm benchmark's timed blocks (perf/causes_accuracy.py --off)",
    )


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The event loop production runs on: uvicorn picks uvloop when it is installed (uvicorn[standard]),
    so the harness's own cost per sample is the one julia pays."""
    return {"uvloop": uvloop.new_event_loop}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(
        key=lambda item: WRITERS_LAST.index(item.path.name) + 1 if item.path.name in WRITERS_LAST else 0
    )


@pytest.fixture(scope="session")
async def perf(services: servers.Servers, pytestconfig: pytest.Config) -> AsyncIterator[Perf]:
    doctors: int = pytestconfig.getoption("--doctors")
    today: dt.date = pytestconfig.getoption("--today")
    injected: str | None = pytestconfig.getoption("--inject-regression")
    slowdown: float = pytestconfig.getoption("--inject-slowdown")
    if slowdown != 1.0:
        injected = f"slowdown-{slowdown:g}x"
    turns = await TurnTaking.from_env(PROJECT.variables)
    await turns.switch("setup")
    dsn, summary = await seeded_database(
        services.database_url, DATABASE, doctors, seed_=SEED, today=today, progress=not os.environ.get("CI")
    )
    conn = await asyncpg.connect(dsn)
    try:
        if injected == "drop-index":
            await conn.execute(f"DROP INDEX {INJECT_DROP_INDEX}")
        # What autovacuum gives production: planner statistics and a visibility map (index-only scans).
        await conn.execute("VACUUM ANALYZE")
        version_num = int(await conn.fetchval("SHOW server_version_num"))
        version = await conn.fetchval("SHOW server_version")
        try:
            # This database's statements only: the other side of an A/B run shares the server.
            await conn.execute(
                "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                "WHERE datname = current_database()), 0)"
            )
            statements = True
        except asyncpg.PostgresError:  # a DATABASE_URL server without pg_stat_statements preloaded
            statements = False
    finally:
        await conn.close()
    run = results.Run(
        results.stamp(
            root=CHECKOUT,
            project=PROJECT,
            version=importlib.metadata.version(PROJECT.name),
            pg_major=version_num // 10000,
            pg_version=version,
            scale=doctors,
            origin=services.describe(),
            injected=injected,
            seed_summary=_plain(summary),
            topology=services.topology,
        )
    )
    run.stamp["side"] = os.environ.get(PROJECT.variable(SIDE), "head")
    run.stamp["event_loop"] = type(asyncio.get_running_loop()).__module__  # uvloop, as in production
    context = Perf(
        run,
        services,
        dsn,
        doctors,
        pytestconfig.getoption("--samples"),
        injected,
        today,
        turns,
        slowdown,
        allocations_only=pytestconfig.getoption("--allocations-only"),
        evidence=not pytestconfig.getoption("--no-profiles-or-allocations"),
    )
    yield context
    if statements:
        await _record_statements(context)
        sources.name_statements(run)
    await turns.close()
    path: Path = pytestconfig.getoption("--results")
    run.save(path)
    print(f"\nperf: {len(run.benches)} benchmarks written to {path}")


@pytest.fixture(scope="session")
async def conn(perf: Perf) -> AsyncIterator[asyncpg.Connection]:
    """The long-lived connection warm benchmarks run on, set up as julia's pool sets up its own."""
    connection = await perf.connect()
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
async def params(perf: Perf, conn: asyncpg.Connection) -> dict[str, list[Params]]:
    return await pick_params(conn, today=perf.today)


def _plain(value: Any) -> Any:
    """The seeder's summary as JSON-ready data, whatever shape it has."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


async def _record_statements(perf: Perf) -> None:
    """pg_stat_statements for the run, top-level calls only, matched by the query id EXPLAIN reported."""
    conn = await asyncpg.connect(perf.dsn)
    try:
        for query in CRITICAL:
            bench = perf.run.benches.get(f"query_{query.name}_warm")
            query_id = bench.counters.get("query_id") if bench else None
            if bench is None or query_id is None:
                continue
            row = await conn.fetchrow(
                "SELECT sum(calls)::bigint AS calls, sum(rows)::bigint AS rows, "
                "sum(shared_blks_hit + shared_blks_read)::bigint AS blocks, "
                "sum(total_exec_time) / nullif(sum(calls), 0) AS mean_ms "
                "FROM pg_stat_statements WHERE queryid = $1 AND toplevel "
                "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                query_id,
            )
            if row and row["calls"]:
                bench.counters["pgss"] = {
                    "calls": row["calls"],
                    "rows": row["rows"],
                    "rows_per_call": round(row["rows"] / row["calls"], 3),
                    "blocks_per_call": round(row["blocks"] / row["calls"], 2),
                    "mean_exec_ms": round(row["mean_ms"], 4),
                }
    finally:
        await conn.close()
