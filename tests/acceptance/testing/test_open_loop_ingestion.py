"""The open-loop ingestion run (`python -m julia.testing.capacity.open_loop`) at a tiny scale, so it does
not rot: one real `julia serve`, a second of webhooks. It checks what the run counts (every 2xx stored,
each process's CPU read), never how fast: the figures come from runs under the perf lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from julia import servers
from julia.testing.capacity import open_loop

pytestmark = pytest.mark.load


def test_every_webhook_of_an_open_loop_second_is_stored_and_each_cpu_read(
    services: servers.Servers, tmp_path: Path
) -> None:
    r = open_loop.measure(
        services,
        40.0,
        duration_s=1.0,
        doctors=20,
        connections=4,
        worker=False,
        folder=tmp_path,
        warm_up_s=0.5,
    )
    assert r["requisicoes"] == r["aceitas"] == r["gravadas"] == 40
    assert open_loop.failures(r) == []
    assert set(r["cpu_pct"]) == {"serve", "postgres", "redis", "generator"}
    assert r["cpu_pct"]["serve"] > 0
    assert r["latencia_ms"]["p50"] <= r["latencia_ms"]["p99"] <= r["latencia_ms"]["max"]
    assert r["serve_rss_mib"] > 0
    assert len(r["max_por_segundo_ms"]) == 1
    assert "40/s asked, 40.0/s accepted (40 2xx, 40 stored" in open_loop.summary_line(r)


def test_each_request_is_a_doctors_body_with_its_own_id_and_length() -> None:
    templates = open_loop.bodies(["+5511999990001", "+5511999990002"])
    request = open_loop.requests(8000, templates, "AB12")
    head, body = request(3).split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /webhooks/evolution HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"apikey: capacidade" in head
    payload_bytes = json.loads(body)["data"]
    assert payload_bytes["key"]["id"] == "CAPAB12x3"
    assert payload_bytes["key"]["remoteJid"].startswith("5511999990002")


def test_a_2xx_missing_from_postgres_or_any_error_fails_the_rate() -> None:
    without_errors = {"status": {}, "conexoes_perdidas": 0}
    r = {"taxa_pedida": 500.0, "aceitas": 100, "gravadas": 99, "erros": without_errors}
    assert open_loop.failures(r) == ["500.0/s: 1 answered 2xx but not in Postgres"]
    r |= {"gravadas": 100, "erros": {"status": {"503": 2}, "conexoes_perdidas": 0}}
    assert open_loop.failures(r) == ["500.0/s: errors {'status': {'503': 2}, 'conexoes_perdidas': 0}"]
