"""Memory measured under load: the garbage-collector pause recorder, the growth per 1,000 messages and its
verdict (the capacity soak's), and how a run shows them."""

from __future__ import annotations

import gc
import math
import os
from pathlib import Path
from typing import Any

import pytest

from julia import gc_pauses
from julia.perf.context import PROJECT
from julia.perf.engine import config, memory, report
from julia.perf.engine.gate import judge, load_budgets
from julia.perf.engine.results import Run
from julia.testing.capacity import benches, soak
from julia.testing.capacity.__main__ import main, memory_summary

MIB = memory.MIB


BUDGETS = load_budgets(config.find(start=Path(__file__).resolve().parents[2]).budgets)


def test_off_nothing_is_installed_and_nothing_is_written(tmp_path: Path) -> None:
    before = list(gc.callbacks)
    with gc_pauses.recording(None, "serve"):
        assert gc.callbacks == before
        gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_on_every_collection_is_recorded_and_written_at_exit(tmp_path: Path) -> None:
    with gc_pauses.recording(tmp_path, "serve"):
        for _ in range(3):
            gc.collect()
    [record] = gc_pauses.load(tmp_path)
    assert record["process"] == "serve"
    assert record["pid"] == os.getpid()
    assert (tmp_path / f"serve-{os.getpid()}.json").exists()
    summary = gc_pauses.summary(record)
    assert summary["gen2"]["n"] >= 3  # gc.collect() is a full collection
    assert 0 < summary["gen2"]["p50_ms"] <= summary["gen2"]["max_ms"]
    assert not any(isinstance(cb, gc_pauses.Recorder) for cb in gc.callbacks)


def test_a_missing_directory_reads_as_no_process() -> None:
    assert gc_pauses.load(Path("/nonexistent/gc")) == []


def test_percentiles_come_from_the_histogram_within_a_bucket_and_never_above_the_max() -> None:
    g = gc_pauses.Generation()
    for _ in range(98):
        g.add(0.0001)  # 100 us
    g.add(0.002)
    g.add(0.050)
    assert g.count == 100
    assert g.max_s == 0.050
    assert 0.0001 <= g.percentile_s(50) < 0.0001 * 10**0.1 * 1.0001
    assert 0.002 <= g.percentile_s(99) < 0.002 * 10**0.1 * 1.0001
    assert g.percentile_s(100) == 0.050
    assert math.isnan(gc_pauses.Generation().percentile_s(50))


def test_long_pauses_are_kept_one_by_one_up_to_a_bound_then_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_pauses, "LONG_KEPT", 2)
    ticks = iter([1.0, 1.0005, 2.0, 2.003, 3.0, 3.002, 4.0, 4.010])  # 0.5 ms, then 3, 2 and 10 ms
    recorder = gc_pauses.Recorder("worker", clock=lambda: next(ticks))
    for generation in (0, 2, 1, 2):
        recorder("start", {"generation": generation})
        recorder("stop", {"generation": generation, "collected": 0, "uncollectable": 0})
    assert recorder.long == [(2.0, 0.003, 2), (3.0, 0.002, 1)]
    assert recorder.dropped == 1
    assert recorder.generations[2].count == 2
    assert recorder.generations[0].count == 1


def test_a_slow_request_is_laid_beside_the_pauses_long_enough_to_have_made_it_slow() -> None:
    pauses = [[10.0, 0.05, 2], [20.0, 0.002, 0]]
    # inside the 50 ms pause; after it; over the 2 ms pause but a second long; nowhere near; 4 ms long
    # over the 2 ms pause
    spans = [(9.99, 10.01), (10.06, 10.2), (19.0, 20.001), (30.0, 31.0), (19.999, 20.003)]
    assert gc_pauses.overlapping(spans, pauses) == 2


def _readings(uss_by_units: list[tuple[int, float]]) -> list[tuple[float, memory.Reading]]:
    return [
        (u, memory.Reading(int(2 * mib * MIB), int(mib * MIB), int(mib * MIB))) for u, mib in uss_by_units
    ]


def test_growth_is_the_slope_over_the_later_half_so_the_warm_up_does_not_count() -> None:
    # Warm-up: +20 MiB over the first 1,000 messages; then a leak of 2.5 KiB per message.
    points = [
        (u, 100 * MIB + min(u, 1000) * 20 * MIB / 1000 + max(0, u - 1000) * 2560) for u in range(0, 4001, 250)
    ]
    growth = memory.growth_per_1000(points)
    assert growth is not None
    assert growth / 1024 == pytest.approx(2500, rel=1e-6)
    flat = [(u, 100.0 * MIB) for u in range(0, 4001, 250)]
    assert memory.growth_per_1000(flat) == pytest.approx(0.0)


def test_growth_cannot_be_read_from_too_few_samples() -> None:
    assert memory.growth_per_1000([]) is None
    assert memory.growth_per_1000([(0, 1.0), (100, 2.0), (200, 3.0)]) is None  # two in the later half
    assert memory.growth_per_1000([(500, 1.0), (500, 2.0), (500, 3.0)]) is None  # no spread in units


def test_a_profile_has_the_peaks_and_the_growth_in_kib_per_1000() -> None:
    p = memory.profile(_readings([(0, 50.0), (1000, 60.0), (2000, 61.0), (3000, 62.0), (4000, 63.0)]))
    assert p["rss_peak_mib"] == 126.0
    assert p["uss_peak_mib"] == 63.0
    assert p["uss_first_mib"] == 50.0
    assert p["uss_last_mib"] == 63.0
    assert p["uss_growth_kib_per_1000"] == 1024.0
    assert memory.profile([]) == {"samples": 0}


def test_memory_per_reply_is_what_the_processes_hold_above_idle_over_the_replies_in_flight() -> None:
    # Ten replies start 0.5 s apart from t=0 and each takes 3 s, the last never answered: in flight at
    # 1..8 s, 3, 5, 6, 6, 5, 3, 1, 1. The processes take 100 KiB per reply in flight at the most (10 serve,
    # 90 the worker) and keep the pages once the replies are gone, as USS does.
    starts = [0.5 * i for i in range(10)]
    ends = [s + 3.0 for s in starts[:9]]
    idle = {"serve": 60 * MIB, "worker0": 80 * MIB}
    most = [3, 5, 6, 6, 6, 6, 6, 6]
    samples = [
        (float(t), {"serve": 60 * MIB + 10 * 1024 * m, "worker0": 80 * MIB + 90 * 1024 * m})
        for t, m in enumerate(most, 1)
    ]
    held = memory.held_per_unit(samples, idle, starts, ends)
    assert held is not None
    assert held["in_flight_peak"] == 6
    # The plateau (3 or more in flight, half the peak) is 1 to 6 s; after it, the pages over 1 in flight
    # would read as 600 KiB a reply.
    assert held["samples_kib"] == [100.0, 100.0, 100.0, 100.0, 120.0, 200.0]
    assert held["kib"] == 100.0
    assert held["idle_mib"] == {"serve": 60.0, "worker0": 80.0}
    assert held["peak_mib"] == {"serve": 60.1, "worker0": 80.5}


def test_memory_per_reply_cannot_be_read_with_nothing_in_flight_or_a_process_unread() -> None:
    idle = {"serve": 60 * MIB}
    assert memory.held_per_unit([], idle, [0.0], [1.0]) is None
    assert memory.held_per_unit([(5.0, {"serve": 61 * MIB})], idle, [0.0], [1.0]) is None
    assert memory.held_per_unit([(0.5, {"worker0": 61 * MIB})], idle, [0.0], [1.0]) is None


def test_a_soak_runs_the_gate_storms_rate_for_its_minutes() -> None:
    c = soak.scenario(10)
    assert c.window_s == 600.0
    assert c.medicos == 9000
    assert c.workers == 1


def _storm_result() -> dict[str, Any]:
    samples = [
        {
            "t": float(t),
            "entradas_abertas": t,
            "claude_em_voo": 1,
            "fila_vencida": 0,
            "cpu_pct": {"serve": 10.0},
            "respondidas": 8 * t,
            "memoria_mib": {"serve": 60.0 + t, "postgres": 150.0, "redis": 9.0},
        }
        for t in range(5)
    ]
    summary = {"p50": 2.2, "p90": 4.5, "p99": 7.8, "max": 14.7, "n": 40}
    return {
        "cenario": {"nome": "tempestade-40med-5s-1w", "workers": 1},
        "tempo_resposta_s": summary,
        "claude_latencia_s": summary,
        "webhook_ms": summary,
        "aceitas_por_s": [8] * 5,
        "respostas_por_s": [8] * 5,
        "amostras": samples,
        "memoria": {"serve": memory.profile(_readings([(u, 60.0 + u / 100) for u in range(0, 41, 10)]))},
        "memoria_servidores_mib": {
            "postgres": {"primeira": 140.0, "pico": 150.0},
            "redis": {"primeira": 8.0, "pico": 9.0},
        },
        "gc_pausas": [
            {
                "process": "serve",
                "pid": 42,
                "seconds": 30.0,
                "gen0": {"n": 900, "p50_ms": 0.1, "p99_ms": 0.4, "max_ms": 0.9, "paused_pct": 0.3},
                "gen2": {"n": 3, "p50_ms": 8.0, "p99_ms": 12.4, "max_ms": 12.5, "paused_pct": 0.1},
                "long_pauses": 3,
            }
        ],
    }


def test_the_summary_line_says_each_process_memory_and_its_oldest_generations_pauses() -> None:
    said = memory_summary(_storm_result())
    assert "serve USS peak 60.4 MiB (RSS 120.8), +10240 KiB per 1,000 messages" in said
    assert "postgres PSS peak 150.0 MiB, redis RSS peak 9.0 MiB" in said
    assert "serve GC gen2 x3 p99 12.4 max 12.5 ms" in said
    assert memory_summary({}) == ""


def test_the_engines_memory_table_shows_each_process_and_its_pauses_beside_time(tmp_path: Path) -> None:
    run = Run({"project": PROJECT.said(), "doctors": 40})
    counts = {key: 0 for key in benches.COUNTS.values()}
    storm = {
        **_storm_result(),
        **counts,
        "mensagens": 40,
        "respondidas": 40,
        "tempo_resposta_amostras_s": [2.0] * 40,
    }
    storm["cpu_ms_por_resposta"] = {"julia": 10.0}
    storm["cenario"]["evolution_p99_ms"] = 600.0
    benches.record(tmp_path / "results.json", run, benches.benches(storm, "line"))
    page = report.render(run, judge(run, BUDGETS), None, [], tmp_path).page.read_text()
    memory_part = page.split("<h2 id='memory'>", 1)[1].split("<h2", 1)[0]
    assert "USS KiB per 1,000 messages" in memory_part
    assert "<td>+10,240</td>" in memory_part
    assert "postgres (PSS of its processes)" in memory_part
    assert "gen2 x3: p99 12.4 ms, max 12.5 ms" in memory_part


def test_a_p99_made_by_a_collection_says_so() -> None:
    record = {"long": [[10.0, 0.080, 2], [10.5, 0.002, 0], [50.0, 0.5, 2]]}  # the last: outside the round
    latencies = [5.0] * 98 + [90.0, 85.0]
    sent_at = [float(i) for i in range(98)] + [9.99, 10.01]
    explained = gc_pauses.explain_slowest([record], [(0.0, 20.0)], latencies, sent_at)
    assert explained == {
        "recorded": True,
        "pauses_at_least_1ms": 2,
        "longest_ms": {"gen0": 2.0, "gen2": 80.0},
        "p99_ms": 85.0,
        "at_or_above_p99": 2,
        "of_them_during_a_pause": 2,
    }
    assert gc_pauses.explain_slowest([], [(0.0, 20.0)], latencies, sent_at) == {"recorded": False}


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--soak", "0"], "--soak takes a positive number of minutes"),
        (["--soak", "5", "--gate"], "--soak and --gate are two different runs"),
    ],
)
def test_a_soak_that_cannot_run_says_why_in_one_line(
    argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert why in capsys.readouterr().err
