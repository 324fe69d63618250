"""The pull-request comment (julia.perf.engine.comment, `julia perf comment`) rendered from a real
results.json: tests/unit/data/perf-results-url-aa.json is an A/A run of `julia perf run --base HEAD` at
a125a92 on this project's 2-core machine (busy: load 7-8) against servers started apart and reached by URL
(the CI topology, autovacuum still on: it failed webhook_steady_1000doctors at 1.366x [1.077-2.431]
against its 1.05 threshold), cut down to four benchmarks with their real samples (5 significant digits)
so that the fixture stays small. Its class, x86_64-2cpu-pg18, predates the topology suffix and has no
calibration file: it is judged at the conservative thresholds, where that interval straddles 1.20."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from julia.commands import perf as perf_command
from julia.perf.engine import comment, config, words
from julia.perf.engine.results import Run
from julia.testing.capacity import benches

REPO = Path(__file__).resolve().parents[2]
REAL = Path(__file__).parent / "data" / "perf-results-url-aa.json"
LINK = "https://github.com/acme/julia/actions/runs/42#artifacts"


def _with_storm(tmp_path: Path, p99: float, lost: int = 0) -> Path:
    """The real run with the capacity storm's benchmarks added as `python -m julia.testing.capacity --gate`
    adds them (julia.testing.capacity.benches), from a storm result with the keys they read."""
    storm: dict[str, Any] = {
        "cenario": {"nome": "tempestade-300-20s-1w", "workers": 1, "evolution_p99_ms": 600.0},
        "etapas_ms": {"resposta": {"p99": 7_900.0, "n": 297}, "envio": {"p99": 2_900.0, "n": 297}},
        "cpu_ms_por_resposta": {"julia": 15.0},
        "piso": {
            "cpu_ms_por_resposta": {"total": 10.0},
            "memoria_por_resposta": {"kib": 80.0, "samples_kib": [80.0], "in_flight_peak": 40},
        },
        "memoria_por_resposta": {"kib": 120.0, "samples_kib": [120.0], "in_flight_peak": 41},
        "mensagens": 300,
        "respondidas": 300 - lost,
        "tempo_resposta_s": {"p99": p99},
        "tempo_resposta_amostras_s": [2.0] * (297 - lost) + [p99] * 3,
        "claude_latencia_s": {"p99": 7.8},
        "nao_gravadas": 0,
        "sem_resposta": lost,
        "duplicadas": 0,
        "recusadas": 0,
        "a_quem_saiu": 0,
    }
    path = tmp_path / "results.json"
    run = Run.load(REAL)
    benches.record(path, run, benches.benches(storm, "tempestade-300-20s-1w: its line"))
    return path


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[str, perf_command._Judged, Run]:
    found = config.find(start=REPO)
    results = _with_storm(tmp_path, 8.4)
    run = perf_command._load(results, found)
    judged = perf_command._judge(found, run, quiet=True)
    out = tmp_path / "comment.md"
    args = argparse.Namespace(results=results, link=LINK, out=out, config=found.path)
    assert perf_command._comment(args) == 0
    return out.read_text(), judged, run


def test_the_comment_starts_with_its_marker_and_the_verdict_line(
    rendered: tuple[str, perf_command._Judged, Run],
) -> None:
    text, judged, _ = rendered
    lines = text.splitlines()
    # How the workflow finds it again to update it.
    assert lines[0] == "<!-- julia-perf-gate -->"
    tally = words.counts(judged.verdicts)
    assert lines[1] == f"### julia perf gate {'passed' if tally.passed else 'FAILED'}: {tally.text()}"
    # The fixture's class (x86_64-2cpu-pg18-url) has no calibration committed: said before anything else.
    assert lines[3] == f"**{judged.line}**"
    assert "is NOT calibrated" in lines[3]


def test_each_failed_and_inconclusive_benchmark_has_its_row(
    rendered: tuple[str, perf_command._Judged, Run],
) -> None:
    text, judged, _ = rendered
    rows = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    wanted = [v for v in words.ordered(judged.verdicts) if v.status in ("FAIL", "inconclusive")]
    assert wanted, "the fixture should hold at least one benchmark to show"
    assert list(rows) == [v.name for v in wanted]
    for v in wanted:
        assert v.ab is not None
        cells = rows[v.name].split(" | ")
        assert cells[1] == v.status
        assert cells[2] == words.fmt_x(v.ab.ratio)
        assert cells[3] == words.interval(v.ab)
        assert cells[4] == words.fmt_x(v.ab.detectable_80)
    assert "| caught 4 times in 5 (80% power) |" in text
    assert all(v.name not in rows for v in judged.verdicts if v.status == "ok")


def test_the_capacity_line_and_the_link_close_it(rendered: tuple[str, perf_command._Judged, Run]) -> None:
    text, _, _ = rendered
    assert (
        "Capacity gate: passed; 300/300 answered, time-to-reply p99 +0.60 s from Claude's (7.80 s); "
        "the floor 10.0 ms/reply at the same rate and latencies (julia 1.50x it); "
        "memory held per reply in flight 120 KiB, the floor's 80 (80-80; julia 1.50x it, 1.50x-1.50x over 1 "
        "samples, at most 41 in flight against 40); "
        "capacity_storm_cpu: ratio: median 1.50x its floor > budget 1.25x (advisory: issue 35's target"
    ) in text
    assert "capacity_storm_memory_kib: ratio: median 1.50x its floor > budget 1.25x (advisory" in text
    assert text.rstrip().endswith(f"Full report: [the perf-report artifact]({LINK}).")


def test_a_failed_capacity_storm_and_a_missing_one_are_said(tmp_path: Path) -> None:
    found = config.find(start=REPO)
    run = perf_command._load(_with_storm(tmp_path, 10.2, lost=3), found)
    failed = perf_command.capacity_line(run, perf_command._judge(found, run, quiet=True).verdicts)
    assert failed.startswith(
        "**FAILED**: capacity_storm: counts: unanswered 3 > budget 0; limits: p99_over_claude_ms 2400 > "
        "limit 2000; "
    )
    assert failed.endswith(
        "likely cause: sending: p99 +2300 ms beyond Evolution's p99 (600 ms) "
        "(then answering: p99 +100 ms beyond Claude's p99 (7800 ms)); "
        "julia CPU 15.0 ms/reply, 1.50x the floor's 10.0 in this run; "
        "memory 120 KiB per reply in flight, 1.50x the floor's 80"
    )
    alone = Run.load(REAL)
    missing = perf_command.capacity_line(alone, perf_command._judge(found, alone, quiet=True).verdicts)
    assert missing.startswith("not run (no capacity benchmarks")


def test_a_failure_says_where_the_time_went() -> None:
    """The real run with its head slowed 1.5x in one warm query (every sample: the interval moves by
    exactly 1.5x): a FAIL, whose row carries the blame (the database's own time against the round trip)."""
    run = Run.load(REAL)
    name = next(n for n in run.benches if n.endswith("_warm"))
    run.benches[name].samples_ms = [s * 1.5 for s in run.benches[name].samples_ms]
    judged = perf_command._judge(config.find(start=REPO), run, quiet=True)
    failed = next(v for v in judged.verdicts if v.name == name)
    assert failed.status == "FAIL"
    row = comment._row(run, failed).replace("\\|", "|")
    assert row.startswith(f"| `{name}` | FAIL | ")
    assert words.blame(failed, run.benches[name], run.base.benches[name] if run.base else None) in row


def test_rows_beyond_the_limit_are_counted_not_shown(
    rendered: tuple[str, perf_command._Judged, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, judged, run = rendered
    monkeypatch.setattr(comment, "MAX_ROWS", 1)
    shown = [v for v in judged.verdicts if v.status in ("FAIL", "inconclusive")]
    text = comment.markdown(run, judged.verdicts, capacity="passed", link=None)
    assert len([line for line in text.splitlines() if line.startswith("| `")]) == 1
    if len(shown) > 1:
        assert f"| ... and {len(shown) - 1} more in the report |" in text
    assert "Full report: not linked." in text
