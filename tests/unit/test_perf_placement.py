"""Where a perf run's processes run (julia.perf.engine.placement): both sides on one CPU, servers on all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from julia.perf.engine import placement


def test_one_cpu_has_nothing_to_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert placement.client_cpu() is None


def test_the_clients_take_the_last_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 3})
    assert placement.client_cpu() == 3
    assert placement.server_cpus_env() == {placement.SERVER_CPUS_ENV: "0,1,3"}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_pinned_child_and_a_released_server(monkeypatch: pytest.MonkeyPatch) -> None:
    everything = os.sched_getaffinity(0)
    cpu = placement.client_cpu()
    assert cpu is not None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        placement.pin(child.pid, cpu)
        assert os.sched_getaffinity(child.pid) == {cpu}
        monkeypatch.delenv(placement.SERVER_CPUS_ENV, raising=False)
        placement.release(child.pid)  # outside a pinned run: nothing changes
        assert os.sched_getaffinity(child.pid) == {cpu}
        monkeypatch.setenv(placement.SERVER_CPUS_ENV, ",".join(map(str, sorted(everything))))
        placement.release(child.pid)
        assert os.sched_getaffinity(child.pid) == everything
    finally:
        child.kill()
        child.wait()


def test_only_a_server_on_this_machine_has_backends_to_pin() -> None:
    assert placement.is_local("postgresql://postgres@/postgres?host=/tmp/embedded")
    assert placement.is_local("postgresql://julia:x@127.0.0.1:5432/julia")
    assert placement.is_local("postgresql:///julia")
    assert not placement.is_local("postgresql://admin:secret@staging-db:5432/postgres")


def test_the_servers_get_every_cpu_but_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert placement.server_cpus(3) == {0, 1, 2}
    assert placement.server_cpus(None) == set()
