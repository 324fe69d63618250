"""What every benchmark module receives (the `perf` fixture of perf/conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from julia import db, servers
from julia.perf.engine import profile, results
from julia.perf.engine.harness import Step
from julia.perf.engine.turnos import Turnos
from julia.queries import sql

# The sleep injection: the query it slows, and by how much (about 10x a warm indexed lookup's p50).
INJECT_SLEEP_QUERY = "buscar_medico_por_telefone"
INJECT_SLEEP_S = 0.001
CHECKOUT = Path(__file__).resolve().parents[2]  # julia/perf/context.py: functions are named from here


@dataclass
class Perf:
    """What every benchmark needs: the run being recorded, the database, and the options."""

    run: results.Run
    services: servers.Services
    dsn: str
    doctors: int
    samples: int
    injected: str | None
    today: dt.date = dt.date(2026, 11, 25)
    turnos: Turnos = field(default_factory=lambda: Turnos(None, None))
    slowdown: float = 1.0  # calibration: each timed call this many times slower (harness.measure*)

    async def switch(self, label: str) -> int:
        """Hand this side's turn back, wait for the next and return its round (julia.perf.engine.turnos)."""
        return await self.turnos.switch(label)

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

    async def profile(
        self, call: Step, *, unit_ms: float, before: Step | None = None, after: Step | None = None
    ) -> dict[str, Any]:
        """CPU per function of `call`'s units, profiled after the benchmark's timed blocks and still in
        this side's turn (julia.perf.engine.profile): the evidence a verdict is explained with."""
        return await profile.profile(
            call, start=0, unit_ms=unit_ms, root=CHECKOUT, before=before, after=after
        )

    async def connect(self) -> asyncpg.Connection:
        """A fresh connection set up as julia's pool sets up its own (cold benchmarks)."""
        return await db.connect(self.dsn)
