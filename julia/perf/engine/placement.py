"""Which CPUs the perf run's processes use.

Left to the scheduler, each side's process settles into a placement of its own relative to the servers
(on its Postgres backend's core, or on the other one) and keeps it for the whole run, which biases one
side against the other by a fixed amount that no number of block pairs averages out. In A/A runs of the
cache benchmarks on the project's 2-core machine (load 3-4, `perf/test_floors.py` and
`perf/test_cache.py`, 3 runs against 4), unpinned sides differed by up to 30% with intervals excluding
1.0 in 5 of 21 comparisons (a Redis GET at 0.863 [0.758-0.946]); with both sides on one CPU, 3 of 28,
none beyond 4%. Only one side runs at a time (turns), so sharing that CPU costs neither side anything.

The servers' side has the same trap: each side's Postgres backends are processes of their own, and a
backend's placement lasts as long as it does. In A/A runs with only the clients pinned, the server's own
mean execution time of a warm query (pg_stat_statements) differed between the sides by up to 1.67x, and
one run in two failed `query_contar_fila_pendente_warm` at 1.148x [1.128-...]. So when Postgres runs on
this machine, `Backends` pins both perf databases' backends to the other CPUs, between rounds (while no
side is measuring): a fixed placement, the same for both.

A server the suite starts (the webhook benchmarks' uvicorn) is not a client: it gets back every CPU the
run had, as in production, where it does not share a core with its load.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}

SERVER_CPUS_ENV = "JULIA_PERF_SERVER_CPUS"


def client_cpu() -> int | None:
    """The one CPU both sides run on: the last this process may use; None with only one (nothing to pin)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-1] if len(allowed) > 1 else None


def server_cpus_env() -> dict[str, str]:
    """What a side's environment carries so that the servers it starts can be given every CPU back."""
    return {SERVER_CPUS_ENV: ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))}


def pin(pid: int, cpu: int) -> None:
    """Pin a process that has just been started: set on its only thread, so every thread and child it
    starts later inherits the CPU."""
    os.sched_setaffinity(pid, {cpu})


def release(pid: int) -> None:
    """Give a server started inside a pinned side every CPU the run had (a no-op outside a pinned run)."""
    cpus = os.environ.get(SERVER_CPUS_ENV)
    if cpus:
        os.sched_setaffinity(pid, {int(c) for c in cpus.split(",")})


def server_cpus(client: int | None) -> set[int]:
    """Every CPU this run may use but the clients'."""
    return set(os.sched_getaffinity(0)) - {client} if client is not None else set()


def is_local(dsn: str) -> bool:
    """Whether the server's processes are this machine's (a unix socket or a loopback host)."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if "host=" in parts.query:  # postgresql:///db?host=/run/postgresql: a socket directory
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    return host.startswith("/") or host.startswith("%2F") or host in LOCAL_HOSTS


def _pin_backend(pid: int, cpus: set[int]) -> None:
    """Only a process of this machine that is a Postgres backend (the pid came from the server); one that
    has exited meanwhile is nothing to pin."""
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            os.sched_setaffinity(pid, cpus)


class Backends:
    """Pins the Postgres backends serving `databases` to `cpus`, each once, as they appear."""

    def __init__(
        self, conn: asyncpg.Connection, databases: Sequence[str], cpus: set[int], servers: Sequence[str]
    ) -> None:
        self._conn = conn
        self._databases = list(databases)
        self._servers = list(servers)
        self._cpus = cpus
        self._pinned: set[int] = set()

    @classmethod
    async def open(
        cls, dsn: str, databases: Sequence[str], cpus: set[int], servers: Sequence[str] = ()
    ) -> Backends | None:
        """None when there is nothing to pin: a remote server, or no CPU apart from the clients'.
        `servers`: the application_name of the servers a side starts (the webhook benchmarks' `julia
        serve`), whose backends are left free, like the server itself: pinned, the webhook load would
        measure a julia serve whose database has one core, which production never gives it. (Its p99
        on this machine is dominated by the machine's load, pinned or not: 18-424 ms in four webhook-only
        A/A runs with other work running beside them, 13 ms in a quiet CI run.)"""
        if not cpus or not is_local(dsn):
            return None
        return cls(await asyncpg.connect(dsn), databases, cpus, servers)

    async def pin_new(self) -> None:
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])"
            " AND application_name <> ALL($2::text[])",
            self._databases,
            self._servers,
        )
        for pid in {int(r["pid"]) for r in rows} - self._pinned:
            self._pinned.add(pid)
            _pin_backend(pid, self._cpus)

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    async def close(self) -> None:
        await self._conn.close()
