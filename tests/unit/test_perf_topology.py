"""The machine class knows where the servers run and how many CPUs the run has; a class never calibrated
says so first and is judged at conservative thresholds, not another class's."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import pytest

from julia import servers
from julia.commands import perf as perf_command
from julia.perf.context import PROJECT
from julia.perf.engine import calibration, config, placement, results
from julia.perf.engine.gate import load_budgets

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("database", "redis", "topology"),
    [
        ("embedded", "embedded", "embedded"),
        ("docker", "docker", "container"),
        ("url", "url", "url"),
        ("url", "embedded", "url"),  # either server someone else's: the run does not own it
        ("docker", "embedded", "container"),
    ],
)
def test_the_topology_is_the_least_owned_server(
    database: servers.Origin, redis: servers.Origin, topology: str
) -> None:
    found = servers.Servers("postgresql://x", "redis://y", database, redis)
    assert found.topology == topology
    assert topology in results.TOPOLOGIES


def test_the_machine_class_has_the_cores_the_run_may_use_and_the_topology(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROJECT.variable(placement.SERVER_CPUS), raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert results.machine_class(18, "url", PROJECT.variables) == f"{platform.machine()}-4cpu-pg18-url"
    # A side is pinned to one CPU: its class still counts the run's (a first run here said "1cpu").
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setenv(PROJECT.variable(placement.SERVER_CPUS), "0,1,2,3")
    assert results.machine_class(18, "url", PROJECT.variables) == f"{platform.machine()}-4cpu-pg18-url"
    monkeypatch.delenv(PROJECT.variable(placement.SERVER_CPUS))
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS: every CPU the OS reports
    assert (
        results.machine_class(16, "embedded", PROJECT.variables)
        == f"{platform.machine()}-{os.cpu_count()}cpu-pg16-embedded"
    )


def test_an_ab_run_tells_its_sides_where_the_servers_really_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A side is handed the servers by URL whatever they are: the run's own word wins."""
    monkeypatch.setenv(PROJECT.variable(results.TOPOLOGY), "embedded")
    stamp = results.stamp(
        root=tmp_path,
        project=PROJECT,
        version="0",
        pg_major=18,
        pg_version="18.6",
        scale=1,
        origin="postgres: url, redis: url",
        injected=None,
        seed_summary={},
        topology="url",
    )
    assert stamp["topology"] == "embedded"
    assert stamp["machine_class"].endswith("-pg18-embedded")


def test_the_committed_calibration_is_filed_under_the_embedded_topology() -> None:
    found = config.find(start=REPO)
    committed = calibration.load(found.calibration, "x86_64-2cpu-pg18-embedded")
    assert committed is not None
    assert committed["machine_class"] == "x86_64-2cpu-pg18-embedded"
    assert calibration.load(found.calibration, "x86_64-4cpu-pg18-url") is None
    assert (found.baselines / "x86_64-2cpu-pg18-embedded.json").is_file()


def test_an_uncalibrated_class_says_so_and_is_judged_conservatively() -> None:
    found = config.find(start=REPO)
    budgets, line = perf_command._calibrated_budgets(found, "x86_64-4cpu-pg18-url")
    assert line.startswith("machine class x86_64-4cpu-pg18-url is NOT calibrated")
    assert "conservative thresholds (at least 1.20x)" in line
    assert min(budgets.threshold_of(name) for name in budgets.benches) >= 1.20
    calibrated, said = perf_command._calibrated_budgets(found, "x86_64-2cpu-pg18-embedded")
    assert said.startswith("machine class x86_64-2cpu-pg18-embedded, calibrated:")
    assert calibrated == load_budgets(found.budgets)


def test_the_gate_says_it_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`julia perf gate` on a run from an uncalibrated class: the first line printed says so."""
    run = results.Run({"machine_class": "x86_64-4cpu-pg18-url", "project": PROJECT.said(), "doctors": 1000})
    run.add(results.Bench("floor_pg_select1", "floor", None, [0.1] * 20))
    path = tmp_path / "results.json"
    run.save(path)
    args = argparse.Namespace(
        results=path,
        out=tmp_path / "out",
        record_history=False,
        explain=[],
        config=REPO / "perf" / "perf.toml",
    )
    perf_command._gate(args)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("perf gate: machine class x86_64-4cpu-pg18-url is NOT calibrated")
    summary = (tmp_path / "out" / "summary.md").read_text().splitlines()
    assert summary[2].startswith("**machine class x86_64-4cpu-pg18-url is NOT calibrated")


def test_explain_all_finds_a_cause_for_every_benchmark_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`julia perf gate --explain all`: every benchmark of the run gets its likely cause line, ok ones
    too (perf/causes_accuracy.py asks the same of unchanged code); without it, only the undecided."""
    run = results.Run(
        {"machine_class": "x86_64-2cpu-pg18-embedded", "project": PROJECT.said(), "doctors": 1000}
    )
    for name in ("floor_pg_select1", "floor_redis_get"):
        run.add(results.Bench(name, "floor", None, [0.1] * 20))
    path = tmp_path / "results.json"
    run.save(path)

    def likely(explain: list[str]) -> list[str]:
        args = argparse.Namespace(
            results=path,
            out=tmp_path / "out",
            record_history=False,
            explain=explain,
            config=REPO / "perf" / "perf.toml",
        )
        perf_command._gate(args)
        out = capsys.readouterr().out.splitlines()
        listed = out[out.index("likely cause:") + 1 :] if "likely cause:" in out else []
        return [line for line in listed if line.startswith("  ")]

    assert likely([]) == []
    lines = likely(["all"])
    assert len(lines) == 2
    assert all(line.split()[0] == "ok" and line.endswith(": no attributable change") for line in lines)
    assert {line.split()[1].rstrip(":") for line in lines} == {"floor_pg_select1", "floor_redis_get"}


def test_the_report_says_what_the_run_did_to_the_machine_and_the_servers() -> None:
    from julia.perf.engine import words

    setup = (
        "both sides on CPU 1; 56 Postgres backends pinned to CPU 0 (56 seen); autovacuum off table by "
        "table (a server the run does not own): julia_perf_head 14 tables, julia_perf_base 14 tables"
    )
    rows = dict(words.stamp_rows({"ab": {"base_commit": "6cf0366591", "seconds": 325.0, "setup": setup}}))
    assert rows["A/B base"] == f"base 6cf0366591; 325 s for both sides; {setup}"
