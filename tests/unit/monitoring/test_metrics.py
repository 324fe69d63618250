"""The collector: percentiles against known inputs, the recent window, errors by type, bounded memory and
the Prometheus exposition."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from julia.metrics import OVERFLOW, Metrics, hit_ratios, percentile


class Clock:
    """A hand-driven clock, so window tests need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_percentile_known_inputs() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 50) == 1.5
    # The same definition as the standard library's inclusive quantiles.
    assert percentile(values, 95) == pytest.approx(
        statistics.quantiles(values, n=100, method="inclusive")[94]
    )
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_summary_reports_the_slow_tail_a_mean_hides() -> None:
    metrics = Metrics(clock=Clock())
    for _ in range(90):
        metrics.observe("buscar_vagas", 0.010)
    for _ in range(10):
        metrics.observe("buscar_vagas", 3.0)
    s = metrics.summary()["buscar_vagas"]
    assert (s.count, s.total) == (100, 100)
    assert s.min_ms == pytest.approx(10.0)
    assert s.max_ms == pytest.approx(3000.0)
    assert s.mean_ms == pytest.approx(309.0)  # "fine" by the mean
    assert s.p50_ms == pytest.approx(10.0)
    assert s.p95_ms == pytest.approx(3000.0)  # not fine: one doctor in ten waits 3 s
    assert s.p99_ms == pytest.approx(3000.0)


def test_summary_keeps_only_the_recent_window() -> None:
    clock = Clock()
    metrics = Metrics(window_s=60, clock=clock)
    metrics.observe("gerar_resposta", 5.0)
    clock.now += 61
    metrics.observe("gerar_resposta", 0.5)
    s = metrics.summary()["gerar_resposta"]
    assert (s.total, s.count) == (2, 1)
    assert s.p99_ms == pytest.approx(500.0)
    clock.now += 61
    idle = metrics.summary()["gerar_resposta"]
    assert (idle.total, idle.count, idle.p95_ms, idle.mean_ms) == (2, 0, None, None)


async def test_timed_async_counts_calls_and_errors_by_type() -> None:
    metrics = Metrics()

    @metrics.timed("processar_webhook")
    async def process(ok: bool) -> str:
        await asyncio.sleep(0)
        if not ok:
            raise TimeoutError("evolution")
        return "feito"

    assert await process(True) == "feito"
    assert process.__name__ == "process"
    for _ in range(2):
        with pytest.raises(TimeoutError):
            await process(False)
    s = metrics.summary()["processar_webhook"]
    assert (s.total, s.count, s.errors_total, s.errors) == (3, 3, 2, {"TimeoutError": 2})


def test_timed_sync_and_measure() -> None:
    metrics = Metrics()

    @metrics.timed("formatar")
    def format_text(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        return x * 2

    assert format_text(2) == 4
    with pytest.raises(ValueError, match="-1"):
        format_text(-1)
    with pytest.raises(KeyError), metrics.measure("evolution_send"):
        raise KeyError("x")
    with metrics.measure("evolution_send"):
        pass
    summary = metrics.summary()
    assert summary["formatar"].errors == {"ValueError": 1}
    assert (summary["evolution_send"].total, summary["evolution_send"].errors) == (2, {"KeyError": 1})


def test_memory_is_bounded_whatever_the_traffic() -> None:
    metrics = Metrics(capacity=1000, max_operations=10)
    for i in range(100_000):
        metrics.observe("buscar_vagas", i / 1e6)
    assert metrics.buffered_samples("buscar_vagas") == 1000
    s = metrics.summary()["buscar_vagas"]
    assert (s.total, s.count) == (100_000, 1000)
    assert s.min_ms == pytest.approx(99_000 / 1000)  # the last 1000 samples only
    for i in range(1000):
        metrics.observe(f"op{i}", 0.001)
        metrics.count(f"evento{i}")
    summary = metrics.summary()
    assert len(summary) == 11  # buscar_vagas, op0..op8, then every later name folded into OVERFLOW
    assert summary[OVERFLOW].total == 991
    assert len(metrics.counters()) == 11
    assert metrics.counters()[OVERFLOW] == 990


def test_error_types_are_bounded() -> None:
    metrics = Metrics()
    for i in range(50):
        metrics.fail("chatwoot", type(f"Erro{i}", (Exception,), {})())
    errors = metrics.summary()["chatwoot"].errors
    assert len(errors) == 21
    assert errors[OVERFLOW] == 30


def test_prometheus_exposition_parses() -> None:
    metrics = Metrics()
    metrics.observe("buscar_vagas", 0.0002)
    metrics.observe("buscar_vagas", 1.5)
    metrics.fail("buscar_vagas", TimeoutError())
    metrics.count("cache_hit", 3)
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    duration = families["julia_operation_duration_seconds"]
    assert duration.type == "histogram"
    buckets = {
        s.labels["le"]: s.value
        for s in duration.samples
        if s.name.endswith("_bucket") and s.labels["operation"] == "buscar_vagas"
    }
    assert buckets["0.0001"] == 0
    assert buckets["0.00025"] == 1
    assert buckets["2.0"] == 2
    assert buckets["+Inf"] == 2
    assert "30.0" in buckets
    errors = families["julia_operation_errors"].samples
    assert [(s.labels, s.value) for s in errors if s.name.endswith("_total")] == [
        ({"operation": "buscar_vagas", "error": "TimeoutError"}, 1.0)
    ]
    events = [s for s in families["julia_events"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in events] == [({"event": "cache_hit"}, 3.0)]


def test_hit_ratios() -> None:
    ratios = hit_ratios({"medico": {"hits": 3, "misses": 1, "errors": 0}, "vagas": {"hits": 0, "misses": 0}})
    assert ratios["medico"] == {"hits": 3, "misses": 1, "errors": 0, "hit_ratio": 0.75}
    assert ratios["vagas"]["hit_ratio"] is None


def test_multiprocess_mode_merges_every_process(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set before start, /metrics of any process shows every process's calls
    (prometheus-client picks its storage at import, hence fresh interpreters)."""
    record = "from julia.metrics import Metrics; Metrics().observe('buscar_vagas', 0.01)"
    expose = "from julia.metrics import Metrics; print(Metrics().exposition()[0].decode())"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", expose], env=env, check=True, capture_output=True, text=True
    ).stdout
    samples = next(
        f.samples
        for f in text_string_to_metric_families(text)
        if f.name == "julia_operation_duration_seconds"
    )
    assert [s.value for s in samples if s.name.endswith("_count")] == [2.0]
