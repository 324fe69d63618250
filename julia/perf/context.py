"""What every benchmark module receives (the `perf` fixture of perf/conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

import asyncpg

from julia import db, servers
from julia.perf.engine import allocations, config, harness, profile, results
from julia.perf.engine.harness import Measured, Paired, Step
from julia.perf.engine.turns import TurnTaking
from julia.queries import sql

# The sleep injection: the query it slows, and by how much (about 10x a warm indexed lookup's p50).
INJECT_SLEEP_QUERY = "buscar_medico_por_telefone"
INJECT_SLEEP_S = 0.001
CHECKOUT = Path(__file__).resolve().parents[2]  # julia/perf/context.py: functions are named from here
# Who this checkout is to the engine (perf/perf.toml's [project]): its variables, database, scale.
PROJECT = config.load(CHECKOUT / config.NAME).project


class Timed(TypedDict):
    """What a benchmark says of its own timed calls (julia.perf.engine.harness.measure's parameters)."""

    samples: int
    warmup: int
    label: str
    before: NotRequired[Step | None]
    after: NotRequired[Step | None]
    block: NotRequired[int]


@dataclass
class Perf:
    """What every benchmark needs: the run being recorded, the database, and the options."""

    run: results.Run
    services: servers.Servers
    dsn: str
    doctors: int
    samples: int
    injected: str | None
    today: dt.date = dt.date(2026, 11, 25)
    turns: TurnTaking = field(default_factory=lambda: TurnTaking(None, None))
    slowdown: float = 1.0  # calibration: each timed call this many times slower (harness.measure*)
    # The allocation gate's calibration (perf/allocations_accuracy.py): each warm benchmark that traces
    # its allocations warms up and traces them, and nothing else (no timed blocks, counts or profile).
    allocations_only: bool = False
    # False only to measure what the untimed evidence costs in wall time (perf/causes_accuracy.py --off,
    # `--no-profiles-or-allocations`): `profile` and `allocated` then do nothing.
    evidence: bool = True

    async def switch(self, label: str) -> int:
        """Hand this side's turn back, wait for the next and return its round (julia.perf.engine.turns)."""
        return await self.turns.switch(label)

    async def injected_sleep(self, query: str) -> None:
        """The `sleep` injection: code that got slower around one query (a no-op otherwise)."""
        if self.injected == "sleep" and query == INJECT_SLEEP_QUERY:
            await asyncio.sleep(INJECT_SLEEP_S)

    async def injected_query(self, pool: asyncpg.Pool) -> None:
        """The `extra-query` injection: code that grew one more statement per message (a no-op otherwise),
        julia's own `ping` (julia/sql/operacao.sql), so the evidence can name the file it came from.
        Time barely moves; the deterministic count must fail the gate on its own."""
        if self.injected == "extra-query":
            await pool.fetchval(sql("ping"))

    async def measure(self, call: Step, **timed: Unpack[Timed]) -> Measured:
        """harness.measure in this run's turns and with its calibration slowdown, which every benchmark
        must pass and so passes here."""
        return await harness.measure(call, turns=self.turns, slowdown=self.slowdown, **timed)

    async def measure_paired(self, call: Step, floor: Step, **timed: Unpack[Timed]) -> Paired:
        """harness.measure_paired in this run's turns and with its calibration slowdown (as `measure`)."""
        return await harness.measure_paired(call, floor, turns=self.turns, slowdown=self.slowdown, **timed)

    async def allocated(
        self, call: Step, calls: int, *, before: Step | None = None, after: Step | None = None
    ) -> dict[str, Any]:
        """What one of `calls` calls allocates, traced after the benchmark's timed blocks, untimed
        (julia.perf.engine.allocations): the counters the gate holds to the base's. None traced (and
        none called) without the evidence."""
        if not self.evidence:
            return {}
        return allocations.typical(await allocations.measure(call, calls, before, after))

    async def allocations_alone(
        self,
        bench: results.Bench,
        call: Step,
        calls: int,
        *,
        warmup: int,
        before: Step | None = None,
        after: Step | None = None,
    ) -> None:
        """`--allocations-only`: `warmup` untimed calls (the state the timed blocks leave), then the traced
        ones, recorded in `bench` (its name, group and floor; no samples)."""
        for i in range(warmup):
            if before is not None:
                await before(i)
            await call(i)
            if after is not None:
                await after(i)
        bench.counters |= await self.allocated(call, calls, before=before, after=after)
        self.run.add(bench)

    async def profile(
        self, call: Step, *, unit_ms: float, before: Step | None = None, after: Step | None = None
    ) -> dict[str, Any] | None:
        """CPU per function of `call`'s units, profiled after the benchmark's timed blocks and still in
        this side's turn (julia.perf.engine.profile): the evidence a verdict is explained with. None
        (nothing called) without the evidence."""
        if not self.evidence:
            return None
        return await profile.profile(
            call,
            start=0,
            unit_ms=unit_ms,
            root=CHECKOUT,
            sources=PROJECT.sources,
            before=before,
            after=after,
        )

    async def connect(self) -> asyncpg.Connection:
        """A fresh connection set up as julia's pool sets up its own (cold benchmarks)."""
        return await db.connect(self.dsn)
