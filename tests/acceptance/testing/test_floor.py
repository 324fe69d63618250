"""The floor probe (`python -m julia.testing.capacity.floor`) end to end on the session's servers."""

from __future__ import annotations

from pathlib import Path

from julia import servers
from julia.testing.capacity import floor


def test_the_floor_answers_every_message_and_reads_each_process_cpu(
    services: servers.Servers, tmp_path: Path
) -> None:
    r = floor.measure(services, 20.0, 1.0, tmp_path, idle_s=0.5, drain_s=3.0)
    assert r["mensagens"] == r["respondidas"] == r["tempo_resposta_ms"]["n"] == 20
    cpu = r["cpu_ms_por_resposta"]
    assert cpu["webhook"] > 0
    assert cpu["worker"] > 0
    assert cpu["total"] == cpu["webhook"] + cpu["worker"]
    assert 0 < r["tempo_resposta_ms"]["p50"] <= r["tempo_resposta_ms"]["max"]
    assert "20/20 answered" in floor.summary_line(r)
    # Read once a second: a storm of one second may end before a sample sees a reply in flight.
    held = r["memoria_por_resposta"]
    assert held is None or held["in_flight_peak"] >= 1
