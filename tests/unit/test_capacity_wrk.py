"""The wrk ingestion run (julia.testing.capacity.wrk): reading wrk's summary and the verdict."""

from __future__ import annotations

import pytest

from julia.testing.capacity import wrk

SAIDA = """Running 20s test @ http://127.0.0.1:4242
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.20ms    2.10ms  40.00ms   90.00%
  42000 requests in 20.00s, 7.00MB read
Requests/sec:   2100.00
WRKJSON {"requests": 42000, "duration_us": 20000000, "connect": 0, "read": 0, "write": 0, "status": 0, \
"timeout": 0, "p50_us": 6800, "p90_us": 9100, "p99_us": 11800, "max_us": 40000}
"""


def test_the_summary_line_of_the_lua_script_is_read() -> None:
    r = wrk.read_output(SAIDA)
    assert r["aceitas"] == 42000
    assert r["aceitas_por_s"] == 2100.0
    assert r["latencia_ms"] == {"p50": 6.8, "p90": 9.1, "p99": 11.8, "max": 40.0}
    assert not any(r["erros"].values())


def test_non_2xx_answers_are_not_counted_as_accepted() -> None:
    r = wrk.read_output(SAIDA.replace('"status": 0', '"status": 100'))
    assert r["aceitas"] == 41900
    assert wrk.failures({**r, "gravadas": 41900}) == [
        "errors: {'connect': 0, 'read': 0, 'write': 0, 'status': 100, 'timeout': 0}"
    ]


def test_a_2xx_missing_from_postgres_fails() -> None:
    r = wrk.read_output(SAIDA)
    assert wrk.failures({**r, "gravadas": 42000}) == []
    assert wrk.failures({**r, "gravadas": 41998}) == ["2 webhooks answered 2xx but not in Postgres"]


def test_output_without_the_summary_says_so() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no WRKJSON line"):
        wrk.read_output("unable to connect to 127.0.0.1:4242 Connection refused\n")


def test_the_line_shows_the_generators_cpu_beside_julias() -> None:
    r = {
        **wrk.read_output(SAIDA),
        "gravadas": 42000,
        "conexoes": 16,
        "cpu_pct": {"serve": 98.0, "postgres": 60.0, "wrk": 12.5},
        "carga_maquina": "3.1 -> 3.4",
    }
    assert "CPU % of a core: serve 98.0, postgres 60.0, wrk 12.5" in wrk.summary_line(r)
