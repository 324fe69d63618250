"""Where a perf run's processes run (julia.perf.engine.placement): both sides on one CPU, servers on all;
nothing pinned where the OS has no affinity; backends pinned only when they are processes this run sees."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from julia.perf.context import PROJECT
from julia.perf.engine import placement


def test_one_cpu_has_nothing_to_pin() -> None:
    plan = placement.Placement.of({0})
    assert plan.client is None
    assert plan.servers == frozenset()


def test_the_clients_take_the_last_cpu_and_the_backends_the_others() -> None:
    plan = placement.Placement.of({0, 1, 3})
    assert plan.client == 3
    assert plan.servers == {0, 1}
    assert placement.server_cpus_env(plan, PROJECT.variables) == {
        PROJECT.variable(placement.SERVER_CPUS): "0,1,3"
    }


@pytest.mark.parametrize("cores", [2, 4, 8, 64])
def test_every_core_the_run_has_is_used(cores: int) -> None:
    """GitHub's runners have 4 vCPUs: the clients still share one, the backends get the 3 others."""
    cpus = set(range(cores))
    plan = placement.Placement.of(cpus)
    assert plan.client == cores - 1
    assert plan.servers == cpus - {cores - 1}
    assert plan.everything == cpus
    assert plan.note == f"both sides on CPU {cores - 1}"


def test_an_os_without_affinity_pins_nothing_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no os.sched_getaffinity: the run goes on, unpinned, and its log says why once."""
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.delattr(os, "sched_setaffinity")
    plan = placement.plan()
    assert plan.client is None
    assert plan.servers == frozenset()
    assert placement.server_cpus_env(plan, PROJECT.variables) == {}
    assert plan.note == placement.NO_AFFINITY
    monkeypatch.delenv(PROJECT.variable(placement.SERVER_CPUS), raising=False)
    assert placement.cores(PROJECT.variables) == os.cpu_count()
    monkeypatch.setenv(PROJECT.variable(placement.SERVER_CPUS), "0,1")
    placement.release(
        os.getpid(), PROJECT.variables
    )  # no affinity call to make: nothing happens, nothing raises


@pytest.mark.skipif(
    placement.usable_cpus() is None or placement.cores(PROJECT.variables) < 2,
    reason="needs CPU affinity and two CPUs",
)
def test_a_pinned_child_and_a_released_server(monkeypatch: pytest.MonkeyPatch) -> None:
    everything = os.sched_getaffinity(0)
    cpu = placement.plan().client
    assert cpu is not None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        placement.pin(child.pid, cpu)
        assert os.sched_getaffinity(child.pid) == {cpu}
        monkeypatch.delenv(PROJECT.variable(placement.SERVER_CPUS), raising=False)
        placement.release(child.pid, PROJECT.variables)  # outside a pinned run: nothing changes
        assert os.sched_getaffinity(child.pid) == {cpu}
        monkeypatch.setenv(PROJECT.variable(placement.SERVER_CPUS), ",".join(map(str, sorted(everything))))
        placement.release(child.pid, PROJECT.variables)
        assert os.sched_getaffinity(child.pid) == everything
    finally:
        child.kill()
        child.wait()


def test_only_a_server_on_this_machine_has_backends_to_pin() -> None:
    assert placement.is_local("postgresql://postgres@/postgres?host=/tmp/embedded")
    assert placement.is_local("postgresql://julia:x@127.0.0.1:5432/julia")
    assert placement.is_local("postgresql:///julia")
    assert not placement.is_local("postgresql://admin:secret@staging-db:5432/postgres")


@pytest.mark.parametrize(
    ("title", "database", "port", "ours"),
    [
        ("postgres: postgres julia_perf_head [local] idle", "julia_perf_head", None, True),
        ("postgres: postgres postgres 127.0.0.1(53122) idle", "postgres", 53122, True),
        ("postgres: main: postgres postgres 172.17.0.1(53122) SELECT", "postgres", 53122, True),
        # A container's backend pid is, in this namespace, some other process or another backend.
        ("/usr/lib/systemd/systemd-journald", "postgres", 53122, False),
        ("postgres: postgres postgres 127.0.0.1(40000) idle", "postgres", 53122, False),
        ("postgres: postgres other [local] idle", "postgres", None, False),
        ("", "postgres", None, False),
    ],
)
def test_a_backend_is_ours_only_when_its_title_names_our_connection(
    title: str, database: str, port: int | None, ours: bool
) -> None:
    assert placement.names_connection(title, database, port) is ours
