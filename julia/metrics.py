"""Latency, call and error metrics of one julia process: a recent-window summary for operators and
Prometheus histograms for the fleet.

Two views of the same observations:

* The JSON summary (`Metrics.summary()`, GET /admin/metricas/performance and the p95 health check) reads a
  preallocated ring buffer per operation: its last `capacity` calls that are at most `window_s` old.
  Percentiles, not a mean: a mean hides the slow tail that a doctor actually waits on. The summary is
  **per process**: with `uvicorn --workers N` (or several worker processes) each one answers with the
  calls it served itself.
* Prometheus (GET /metrics): histograms and counters, aggregated across processes and hosts by
  Prometheus/Grafana, e.g. `histogram_quantile(0.95, sum by (le, operation)
  (rate(julia_operation_duration_seconds_bucket[5m])))`.

Multi-process uvicorn (`--workers N`): every worker has its own memory and a scrape reaches whichever
worker accepts the connection. Set PROMETHEUS_MULTIPROC_DIR to an empty directory writable by all workers
in the environment that starts them (prometheus-client chooses its storage when it is first imported):
each process then writes its samples to mmap files there, and GET /metrics, whichever worker answers,
merges every process's files with `MultiProcessCollector`. Empty the directory at every start, or dead
processes' counts survive into the new run. Without the variable each process exposes its own registry,
which is right for one process per container (Prometheus scrapes each one).

Memory is bounded whatever the traffic: `capacity` (end time, duration) pairs of 8-byte floats per
operation; at most `max_operations` operation names and as many counter names, later names being folded
into one more, "outras"; at most `MAX_ERROR_TYPES` exception names per operation.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ParamSpec, TypeVar, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

# 0.1 ms (a cache hit) to 30 s (a Claude call near its timeout). 1 s and 2 s are bucket edges so that
# Grafana's histogram_quantile is exact at the degraded/critical thresholds.
LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
)  # fmt: skip
OVERFLOW = "outras"
QUEUE_GAUGES = {
    "entradas_abertas": "Inbound messages not yet answered.",
    "entrada_mais_antiga_segundos": "How long the oldest unanswered inbound message has waited.",
    "envio_vencidas": "Queued messages due to be sent.",
    "envio_mais_antiga_segundos": "How long the oldest due queued message has waited.",
}
BUDGET_GAUGES = {
    "tokens": "Claude tokens (input + output) the service used today, São Paulo's day.",
    "medicos_acima": "Doctors past CLAUDE_TOKENS_PER_DOCTOR_DAY today (handed to a person).",
    "leads_acima": "Leads past LEAD_CLAUDE_REPLIES_PER_DAY today (handed to a person).",
}
MAX_ERROR_TYPES = 20


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ascending `ordered`, interpolating linearly between the closest ranks
    (numpy's default, statistics.quantiles(method="inclusive")): p50 of [1, 2] is 1.5."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class OperationSummary:
    """One operation: lifetime totals of this process, then statistics of the recent window (ms)."""

    total: int
    errors_total: int
    errors: dict[str, int]
    count: int
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Operation:
    """The ring buffer, error counts and Prometheus children of one operation name."""

    __slots__ = (
        "_errors_counter",
        "capacity",
        "durations",
        "ends",
        "errors",
        "histogram",
        "lock",
        "name",
        "total",
    )

    def __init__(self, name: str, capacity: int, histogram: Histogram, errors_counter: Counter) -> None:
        self.name = name
        self.capacity = capacity
        # array("d") stores raw doubles: 16 bytes per sample, no float objects for the GC to track.
        self.ends = array("d", bytes(8 * capacity))
        self.durations = array("d", bytes(8 * capacity))
        self.total = 0
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()  # sync functions may run in threads (asyncio.to_thread)
        self.histogram = histogram.labels(operation=name)  # resolved once, not per call
        self._errors_counter = errors_counter

    def observe(self, seconds: float, end: float) -> None:
        with self.lock:
            slot = self.total % self.capacity
            self.ends[slot] = end
            self.durations[slot] = seconds
            self.total += 1
        self.histogram.observe(seconds)

    def fail(self, error: BaseException) -> None:
        kind = type(error).__name__
        with self.lock:
            if kind not in self.errors and len(self.errors) >= MAX_ERROR_TYPES:
                kind = OVERFLOW
            self.errors[kind] = self.errors.get(kind, 0) + 1
        self._errors_counter.labels(operation=self.name, error=kind).inc()

    def summary(self, since: float) -> OperationSummary:
        with self.lock:  # copy under the lock (fast), sort outside it
            filled = min(self.total, self.capacity)
            ends, durations = self.ends[:filled], self.durations[:filled]
            total, errors = self.total, dict(self.errors)
        recent = sorted(d for e, d in zip(ends, durations, strict=True) if e >= since)
        stats: list[float | None] = [None] * 6
        if recent:
            stats = [
                sum(recent) / len(recent) * 1000,
                recent[0] * 1000,
                recent[-1] * 1000,
                *(percentile(recent, q) * 1000 for q in (50, 95, 99)),
            ]
        return OperationSummary(total, sum(errors.values()), errors, len(recent), *stats)


class Metrics:
    """The collector: `timed` / `measure` / `observe` for latencies, `count` for events, `fail` for errors."""

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        capacity: int = 2048,
        max_operations: int = 200,
        clock: Callable[[], float] = time.perf_counter,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if capacity < 1 or max_operations < 1 or window_s <= 0:
            raise ValueError("capacity, max_operations and window_s must be positive")
        self.window_s = window_s
        self.capacity = capacity
        self.max_operations = max_operations
        self._clock = clock
        self._operations: dict[str, _Operation] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        # Decided once, like prometheus-client itself decides at import whether to write mmap files.
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # None: a private registry (tests, several collectors in one process). The process's collector uses
        # prometheus-client's global REGISTRY, so /metrics also shows other modules' counters.
        self.registry = registry if registry is not None else CollectorRegistry()
        self._histogram = Histogram(
            "julia_operation_duration_seconds",
            "Duration of measured operations (failed calls included).",
            ["operation"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._errors = Counter(
            "julia_operation_errors",
            "Failed operations by exception type.",
            ["operation", "error"],
            registry=self.registry,
        )
        self._events = Counter("julia_events", "Counted events.", ["event"], registry=self.registry)
        self._evolution_webhooks = Counter(
            "julia_webhook_evolution_eventos_total",
            "Evolution webhooks by event and outcome "
            "(recebida, duplicada, ignorada, conexao, invalida, negada; opt_out: the stop words, registered; "
            "sem_telefone: an @lid sender without remoteJidAlt, kept apart; desconhecida: an edit or delete "
            "of a message never stored).",
            ["evento", "resultado"],
            registry=self.registry,
        )
        # Read from Postgres before each scrape: every process sees the same figures, so in multi-process
        # mode the most recent write is the answer (not a sum over processes).
        self._campanhas = Gauge(
            "julia_campanha_mensagens",
            "A recent campaign's messages and doctors by state (enfileiradas, enviadas, respondidas...).",
            ["campanha", "estado"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        # The queues as the last health reading saw them (julia.data.operacao): a backlog shows here while
        # it builds. Every process reads the same tables, so several processes report the largest.
        self._queue_gauges = {
            name: Gauge(f"julia_fila_{name}", text, registry=self.registry, multiprocess_mode="livemax")
            for name, text in QUEUE_GAUGES.items()
        }
        # Today's budget counters as the worker's last alert round read them (julia.services.budget).
        self._budget_gauges = {
            name: Gauge(
                f"julia_claude_hoje_{name}", text, registry=self.registry, multiprocess_mode="mostrecent"
            )
            for name, text in BUDGET_GAUGES.items()
        }

    def _operation(self, name: str) -> _Operation:
        op = self._operations.get(name)
        if op is not None:
            return op
        with self._lock:
            if name not in self._operations and len(self._operations) >= self.max_operations:
                if OVERFLOW not in self._operations:  # say it once, not on every call
                    log.warning(
                        "metrics: more than %d operation names; %r and later ones count as %r",
                        self.max_operations,
                        name,
                        OVERFLOW,
                    )
                name = OVERFLOW
            if name not in self._operations:
                self._operations[name] = _Operation(name, self.capacity, self._histogram, self._errors)
            return self._operations[name]

    def timed(self, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator timing every call of an async or plain function; failures are timed and counted by
        exception type, then re-raised."""
        op = self._operation(name)
        clock = self._clock

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def timed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    start = clock()
                    try:
                        return await func(*args, **kwargs)
                    except Exception as error:
                        op.fail(error)
                        raise
                    finally:
                        end = clock()
                        op.observe(end - start, end)

                return cast(Callable[P, R], timed_async)

            @functools.wraps(func)
            def timed_sync(*args: P.args, **kwargs: P.kwargs) -> R:
                start = clock()
                try:
                    return func(*args, **kwargs)
                except Exception as error:
                    op.fail(error)
                    raise
                finally:
                    end = clock()
                    op.observe(end - start, end)

            return timed_sync

        return decorate

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time a block (`with metrics.measure("evolution_send"):`), for calls that are not a function."""
        op = self._operation(name)
        start = self._clock()
        try:
            yield
        except Exception as error:
            op.fail(error)
            raise
        finally:
            end = self._clock()
            op.observe(end - start, end)

    def observe(self, name: str, seconds: float) -> None:
        """Record one duration measured elsewhere, ending now."""
        self._operation(name).observe(seconds, self._clock())

    def fail(self, name: str, error: BaseException) -> None:
        """Count one failure of `name` by exception type (the decorators do this themselves)."""
        self._operation(name).fail(error)

    def count(self, name: str, n: int = 1) -> None:
        """Add n to the event counter `name` (cache hits, Slack failures, ...)."""
        with self._lock:
            if name not in self._counters and len(self._counters) >= self.max_operations:
                name = OVERFLOW
            self._counters[name] = self._counters.get(name, 0) + n
        self._events.labels(event=name).inc(n)

    def count_evolution_webhook(self, event: str, outcome: str) -> None:
        """Count one Evolution webhook by event ("?" before the event is known) and outcome."""
        self._evolution_webhooks.labels(evento=event, resultado=outcome).inc()

    def set_campanha(self, campanha_id: str, counts: Mapping[str, int]) -> None:
        """Set a campaign's counts by state (from julia.services.gauges)."""
        for state, n in counts.items():
            self._campanhas.labels(campanha=campanha_id, estado=state).set(n)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def summary(self) -> dict[str, OperationSummary]:
        """Per operation: lifetime totals and the window's count, mean, min, max, p50, p95, p99 (ms)."""
        since = self._clock() - self.window_s
        return {name: op.summary(since) for name, op in list(self._operations.items())}

    def buffered_samples(self, name: str) -> int:
        """How many samples `name`'s ring buffer holds (never more than `capacity`)."""
        op = self._operations.get(name)
        return 0 if op is None else len(op.durations)

    def set_queue_gauges(self, values: Mapping[str, float]) -> None:
        """Set the queue gauges (keys of QUEUE_GAUGES)."""
        for name, value in values.items():
            self._queue_gauges[name].set(value)

    def set_budget_gauges(self, values: Mapping[str, float]) -> None:
        """Set today's Claude budget gauges (keys of BUDGET_GAUGES)."""
        for name, value in values.items():
            self._budget_gauges[name].set(value)

    def exposition(self) -> tuple[bytes, str]:
        """Prometheus text format and its content type: every process's samples in multi-process mode,
        this process's registry otherwise (see the module docstring)."""
        registry = self.registry
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        return generate_latest(registry), CONTENT_TYPE_LATEST


def hit_ratios(stats: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float | None]]:
    """Cache.counts() -> per kind: hits, misses, errors and hit_ratio = hits / (hits + misses), None when
    the kind was never read."""
    ratios: dict[str, dict[str, float | None]] = {}
    for kind, figures in stats.items():
        hits, misses = figures.get("hits", 0), figures.get("misses", 0)
        ratios[kind] = {
            **figures,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        }
    return ratios


# The process's collector. Module level on purpose: `@metrics.timed(...)` decorates functions at import
# time, so the instance must exist then. It only holds memory (no I/O, no connections); the app puts the
# same object on `app.state.metrics` for the routes.
metrics = Metrics(registry=REGISTRY)
