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
one run in two failed `query_contar_fila_pendente_warm` at 1.148x [1.128-...]. So when the server's
backends are processes this run can see (`Backends.open`: not a container's own pid namespace, not
another machine), `Backends` pins both perf databases' backends to the other CPUs, between rounds (while
no side is measuring): a fixed placement, the same for both.

The plan is the same on any number of cores (`Placement`): the clients share the last CPU this process
may use, the backends get every other one (1 on a 2-core machine, 3 on GitHub's 4-vCPU runners), and a
server the suite starts (the webhook benchmarks' uvicorn) gets back every CPU the run had, as in
production, where it does not share a core with its load. An OS without CPU affinity (macOS has no
`os.sched_getaffinity`) gets no pinning at all, which the run says once.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}

# The word of the variable that hands a side the run's CPUs (perf.toml's [project] variables prefixes it).
SERVER_CPUS = "SERVER_CPUS"
NO_AFFINITY = "this OS has no CPU affinity (os.sched_getaffinity): no process is pinned"


def usable_cpus() -> set[int] | None:
    """The CPUs this process may run on; None where the OS has no affinity calls (macOS, Windows)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return set(getaffinity(0)) if getaffinity is not None else None


def cores(variables: str) -> int:
    """How many CPUs the run has: inside a side, which is pinned to one, those its coordinator had
    (`<variables>_SERVER_CPUS`); else this process's affinity where the OS has one (a container's cpuset,
    taskset), else every CPU the OS reports."""
    run = os.environ.get(f"{variables}_{SERVER_CPUS}")
    if run:
        return len(run.split(","))
    cpus = usable_cpus()
    return len(cpus) if cpus is not None else os.cpu_count() or 1


@dataclass(frozen=True)
class Placement:
    """Where each kind of process goes, from the CPUs the run may use (None: no affinity here)."""

    client: int | None  # both sides' processes; None: nothing to pin
    servers: frozenset[int]  # the Postgres backends; empty: left to the scheduler
    everything: frozenset[int]  # what a server a side starts gets back
    note: str  # one line for the run's log

    @classmethod
    def of(cls, cpus: set[int] | None) -> Placement:
        if cpus is None:
            return cls(None, frozenset(), frozenset(), NO_AFFINITY)
        if len(cpus) < 2:
            return cls(None, frozenset(), frozenset(cpus), "one CPU: nothing to pin")
        client = max(cpus)
        servers = frozenset(cpus - {client})
        return cls(client, servers, frozenset(cpus), f"both sides on CPU {client}")


def plan() -> Placement:
    return Placement.of(usable_cpus())


def server_cpus_env(placement: Placement, variables: str) -> dict[str, str]:
    """What a side's environment carries so that the servers it starts can be given every CPU back."""
    if not placement.everything:
        return {}
    return {f"{variables}_{SERVER_CPUS}": ",".join(str(c) for c in sorted(placement.everything))}


def pin(pid: int, cpu: int) -> None:
    """Pin a process that has just been started: set on its only thread, so every thread and child it
    starts later inherits the CPU."""
    os.sched_setaffinity(pid, {cpu})


def release(pid: int, variables: str) -> None:
    """Give a server started inside a pinned side every CPU the run had (a no-op outside a pinned run,
    and where the OS has no affinity)."""
    cpus = os.environ.get(f"{variables}_{SERVER_CPUS}")
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {int(c) for c in cpus.split(",")})


def is_local(dsn: str) -> bool:
    """Whether the server is reached on this machine (a unix socket or a loopback host). Necessary for
    its backends to be processes this run can pin, not sufficient: a container's port mapped to
    localhost is local too (`sees_backend`)."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if "host=" in parts.query:  # postgresql:///db?host=/run/postgresql: a socket directory
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    return host.startswith("/") or host.startswith("%2F") or host in LOCAL_HOSTS


def process_title(pid: int) -> str:
    """A process's command line as `ps` shows it ("" when there is no such process here)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def names_connection(title: str, database: str, client_port: int | None) -> bool:
    """Whether a backend's process title is the one serving our connection. Postgres titles each backend
    `postgres: <user> <database> <client host>(<client port>) <state>`, `[local]` for a socket
    (update_process_title, on by default outside Windows)."""
    if not title.startswith("postgres"):
        return False
    client = rf"\S*\({client_port}\)" if client_port is not None else re.escape("[local]")
    return re.search(rf" {re.escape(database)} {client}( |$)", title) is not None


async def sees_backend(conn: asyncpg.Connection) -> bool:
    """Whether the server's backends are processes of this pid namespace: the pid Postgres gives for our
    own connection's backend is, here, a postgres process serving our connection (its database and the
    client port the server sees, inet_client_port(); NULL on a unix socket). A service container
    (pids of its own namespace) or another machine answers with a pid that is nothing, or someone else."""
    row = await conn.fetchrow(
        "SELECT pg_backend_pid() AS pid, current_database() AS db, inet_client_port() AS port"
    )
    if row is None:
        return False
    pid, database, port = int(row["pid"]), str(row["db"]), row["port"]
    return names_connection(process_title(pid), database, int(port) if port is not None else None)


def _pin_backend(pid: int, cpus: frozenset[int]) -> bool:
    """Pin one backend; False when it is no postgres process here or has exited meanwhile."""
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            os.sched_setaffinity(pid, cpus)
            return True
    return False


class Backends:
    """Pins the Postgres backends serving `databases` to `cpus`, each once, as they appear."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        databases: Sequence[str],
        cpus: frozenset[int],
        servers: Sequence[str],
    ) -> None:
        self._conn = conn
        self._databases = list(databases)
        self._servers = list(servers)
        self._cpus = cpus
        self._seen: set[int] = set()
        self.pinned = 0  # pins made, not attempted: a backend gone before its turn is not counted

    @classmethod
    async def open(
        cls, dsn: str, databases: Sequence[str], cpus: frozenset[int], servers: Sequence[str] = ()
    ) -> tuple[Backends | None, str]:
        """(None, why) when there is nothing to pin: no CPU apart from the clients', a remote server, or
        backends this run cannot see (a container's pid namespace).
        `servers`: the application_name of the servers a side starts (the webhook benchmarks' `julia
        serve`), whose backends are left free, like the server itself: pinned, the webhook load would
        measure a julia serve whose database has one core, which production never gives it. (Its p99
        on this machine is dominated by the machine's load, pinned or not: 18-424 ms in four webhook-only
        A/A runs with other work running beside them, 13 ms in a quiet CI run.)"""
        if not cpus:
            return None, "Postgres backends not pinned: no CPU apart from the clients'"
        if not is_local(dsn):
            return None, "Postgres backends not pinned: the server is on another machine"
        conn = await asyncpg.connect(dsn)
        if not await sees_backend(conn):
            await conn.close()
            return None, "Postgres backends not pinned: not processes of this pid namespace (a container?)"
        return cls(conn, databases, cpus, servers), ""

    async def pin_new(self) -> None:
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])"
            " AND application_name <> ALL($2::text[])",
            self._databases,
            self._servers,
        )
        for pid in {int(r["pid"]) for r in rows} - self._seen:
            self._seen.add(pid)
            self.pinned += _pin_backend(pid, self._cpus)

    def said(self) -> str:
        cpus = ",".join(map(str, sorted(self._cpus)))
        return f"{self.pinned} Postgres backends pinned to CPU {cpus} ({len(self._seen)} seen)"

    async def close(self) -> None:
        await self._conn.close()
