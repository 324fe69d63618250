"""The capacity run's lines, its floor and its likely cause (what fails it: test_capacity_benches.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from julia import servers
from julia.testing.capacity import floor, gate
from julia.testing.capacity.__main__ import against_floor, measure_floor
from julia.testing.capacity.load import Scenario


def _resultado(p99: float = 5.0) -> dict[str, Any]:
    return {"cenario": {"nome": "tempestade", "workers": 1}, "tempo_resposta_s": {"p99": p99}}


def test_a_run_with_its_floor_says_how_far_above_it_julia_is() -> None:
    r = {"cpu_ms_por_resposta": {"julia": 15.0}, "piso": {"cpu_ms_por_resposta": {"total": 10.0}}}
    assert against_floor(r) == (
        "the floor 10.0 ms/reply at the same rate and latencies (julia 1.50x it); "
        "memory per reply against the floor not measured; "
    )
    assert against_floor({"cpu_ms_por_resposta": {"julia": 15.0}}) == ""


def test_a_run_with_its_floor_says_its_memory_per_reply_against_the_floors_with_the_spread() -> None:
    r: dict[str, Any] = {
        "cpu_ms_por_resposta": {"julia": 15.0},
        "memoria_por_resposta": {"kib": 120.0, "samples_kib": [100.0, 120.0, 150.0], "in_flight_peak": 45},
        "piso": {
            "cpu_ms_por_resposta": {"total": 10.0},
            "memoria_por_resposta": {"kib": 80.0, "samples_kib": [70.0, 80.0, 90.0], "in_flight_peak": 44},
        },
    }
    assert against_floor(r).endswith(
        "(julia 1.50x it); memory held per reply in flight 120 KiB, the floor's 80 (70-90; julia 1.50x it, "
        "1.25x-1.88x over 3 samples, at most 45 in flight against 44); "
    )
    del r["piso"]["memoria_por_resposta"]
    assert against_floor(r).endswith("memory per reply against the floor not measured; ")


def test_a_floor_that_cannot_be_measured_is_said_and_fails_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def cannot_start(*_: Any, **__: Any) -> dict[str, Any]:
        raise RuntimeError("worker not ready after 60 s: see worker.log")

    monkeypatch.setattr(floor, "measure", cannot_start)
    found_servers = servers.Servers("postgresql://x", "redis://x", "url", "url")
    assert measure_floor(Scenario(), found_servers, tmp_path) is None
    assert "the floor was not measured: RuntimeError: worker not ready" in capsys.readouterr().err


def _with_stages(resposta_p99_ms: float, envio_p99_ms: float, **extra: Any) -> dict[str, Any]:
    """A storm's result with the stages the worker recorded (load.STAGES) and the third parties' p99s."""
    r = _resultado(p99=12.0)
    r["cenario"]["evolution_p99_ms"] = 600.0
    r["claude_latencia_s"] = {"p99": 8.0}
    r["etapas_ms"] = {
        "resposta": {"p99": resposta_p99_ms, "n": 300},
        "envio": {"p99": envio_p99_ms, "n": 300},
    }
    r["cpu_ms_por_resposta"] = {"julia": 15.0}
    return {**r, **extra}


def test_a_slow_sender_is_named_as_where_the_time_went() -> None:
    r = _with_stages(8_300.0, 4_800.0, piso={"cpu_ms_por_resposta": {"total": 10.0}})
    assert gate.cause(r) == (
        "sending: p99 +4200 ms beyond Evolution's p99 (600 ms) "
        "(then answering: p99 +300 ms beyond Claude's p99 (8000 ms)); "
        "julia CPU 15.0 ms/reply, 1.50x the floor's 10.0 in this run"
    )
    r["memoria_por_resposta"] = {"kib": 120.0}
    r["piso"]["memoria_por_resposta"] = {"kib": 80.0}
    assert gate.cause(r).endswith("in this run; memory 120 KiB per reply in flight, 1.50x the floor's 80")


def test_a_slow_answer_is_named_with_claudes_rate_limit_waits() -> None:
    r = _with_stages(12_000.0, 700.0, **{"tentativas": {"esperas": 40}})
    assert gate.cause(r).startswith("answering: p99 +4000 ms beyond Claude's p99 (8000 ms) (then sending")
    assert "40 waits on Claude's rate limit" in gate.cause(r)
    assert gate.cause(r).endswith("julia CPU 15.0 ms/reply (the floor was not measured)")


def test_a_storm_with_no_reply_has_nothing_to_attribute() -> None:
    assert gate.cause(_resultado()).startswith("no reply completed")
