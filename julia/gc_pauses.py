"""The cyclic garbage collector's pauses in a long-running process (`julia serve`, `julia worker`), recorded
when GC_PAUSES_DIR is set (the capacity storm and the perf suite's webhook load set it) and written there
as `<process>-<pid>.json` when the process stops; `summary` reads them back.

Off (the default), nothing is installed: no callback, no cost. On, `gc.callbacks` (the interpreter's own
hook, called at the start and stop of every collection) adds two perf_counter reads per collection and
keeps constant memory, so a soak does not mistake the recorder for a leak: a histogram per generation
(10 buckets per decade, so a percentile read from it is within 26% of the true one; count, total and max
exact) and each pause of at least LONG_S with its start, at most LONG_KEPT of them. Those starts are
time.perf_counter, CLOCK_MONOTONIC on Linux, one clock for every process of the machine: a client's
request times can be laid beside them (a slow webhook that overlapped a full collection).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LONG_S = 0.001  # a pause this long is kept one by one: it can show in a webhook's p99
LONG_KEPT = 10_000
EXPLAINS = 0.25  # a pause at least this share of a slow request's time counts as what made it slow
BUCKETS_PER_DECADE = 10
SMALLEST_S = 1e-6  # bucket 0 holds everything below 1 us


def bucket(seconds: float) -> int:
    return max(0, math.floor(BUCKETS_PER_DECADE * math.log10(max(seconds, SMALLEST_S) / SMALLEST_S)))


def bucket_top_s(index: int) -> float:
    """The upper edge of a bucket: what a percentile read from the histogram reports."""
    return float(SMALLEST_S * 10 ** ((index + 1) / BUCKETS_PER_DECADE))


@dataclass
class Generation:
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        b = bucket(seconds)
        self.buckets[b] = self.buckets.get(b, 0) + 1

    def percentile_s(self, p: float) -> float:
        """Nearest rank, read from the histogram (the upper edge of the bucket holding it, at most max)."""
        if not self.count:
            return math.nan
        rank, seen = max(1, math.ceil(p / 100 * self.count)), 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_top_s(index), self.max_s)
        return self.max_s


@dataclass
class Recorder:
    process: str
    clock: Callable[[], float] = time.perf_counter
    started: float = field(default_factory=time.perf_counter)
    generations: dict[int, Generation] = field(default_factory=dict)
    long: list[tuple[float, float, int]] = field(default_factory=list)  # start, seconds, generation
    dropped: int = 0  # long pauses beyond LONG_KEPT: counted in the histogram only
    _start: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = self.clock()
        if phase == "start":
            self._start = now
            return
        seconds = now - self._start
        generation = info["generation"]
        self.generations.setdefault(generation, Generation()).add(seconds)
        if seconds >= LONG_S:
            if len(self.long) < LONG_KEPT:
                self.long.append((round(self._start, 6), round(seconds, 6), generation))
            else:
                self.dropped += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "pid": os.getpid(),
            "since": self.started,
            "until": time.perf_counter(),
            "generations": {str(g): vars(v) for g, v in sorted(self.generations.items())},
            "long": self.long,
            "dropped": self.dropped,
        }


@contextlib.contextmanager
def recording(directory: Path | None, process: str) -> Iterator[None]:
    """While inside, record this process's collections; on leaving, write them into `directory`.
    `directory` None: nothing at all."""
    if directory is None:
        yield
        return
    recorder = Recorder(process)
    gc.callbacks.append(recorder)
    try:
        yield
    finally:
        gc.callbacks.remove(recorder)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{process}-{os.getpid()}.json").write_text(json.dumps(recorder.as_json()))


def load(directory: Path) -> list[dict[str, Any]]:
    """Every process's record in `directory` (none when it is missing), in the order they started."""
    if not directory.is_dir():
        return []
    records = [json.loads(p.read_text()) for p in directory.glob("*.json")]
    return sorted(records, key=lambda r: float(r["since"]))


def _generation(raw: dict[str, Any]) -> Generation:
    return Generation(
        int(raw["count"]),
        float(raw["total_s"]),
        float(raw["max_s"]),
        {int(k): int(v) for k, v in raw["buckets"].items()},
    )


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """One process's pauses in milliseconds, per generation: how many, p50, p99, max, and the share of
    its wall time spent paused."""
    wall = max(1e-9, float(record["until"]) - float(record["since"]))
    out: dict[str, Any] = {"process": record["process"], "pid": record["pid"], "seconds": round(wall, 1)}
    for name, raw in record["generations"].items():
        g = _generation(raw)
        out[f"gen{name}"] = {
            "n": g.count,
            "p50_ms": round(1000 * g.percentile_s(50), 3),
            "p99_ms": round(1000 * g.percentile_s(99), 3),
            "max_ms": round(1000 * g.max_s, 3),
            "paused_pct": round(100 * g.total_s / wall, 3),
        }
    out["long_pauses"] = len(record["long"]) + int(record["dropped"])
    return out


def overlapping(spans: Sequence[tuple[float, float]], long: Sequence[Sequence[float]]) -> int:
    """How many of `spans` (start, end; perf_counter) overlap one of the `long` pauses that lasted at
    least EXPLAINS of the span: a 1 ms pause inside a 100 ms request is there, but did not make it slow."""
    pauses = [(float(p[0]), float(p[0]) + float(p[1])) for p in long]
    return sum(1 for a, b in spans if any(s < b and a < e and e - s >= EXPLAINS * (b - a) for s, e in pauses))


def explain_slowest(
    records: Sequence[dict[str, Any]],
    spans: Sequence[tuple[float, float]],
    latencies_ms: Sequence[float],
    sent_at: Sequence[float],
) -> dict[str, Any]:
    """The pauses of LONG_S or more that began inside `spans` (perf_counter start, end), and how many of
    the requests at or above the p99 of `latencies_ms` (each sent at `sent_at`) overlapped one lasting at
    least EXPLAINS of their time: when most did, a collection is what made the p99."""
    if not records:
        return {"recorded": False}
    long = [p for rec in records for p in rec["long"] if any(a <= p[0] < b for a, b in spans)]
    ordered = sorted(latencies_ms)
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else math.nan
    slow = [(t, t + ms / 1000) for t, ms in zip(sent_at, latencies_ms, strict=True) if ms >= p99]
    longest = {g: max((1000 * p[1] for p in long if p[2] == g), default=0.0) for g in (0, 1, 2)}
    return {
        "recorded": True,
        "pauses_at_least_1ms": len(long),
        "longest_ms": {f"gen{g}": round(ms, 2) for g, ms in longest.items() if ms},
        "p99_ms": round(p99, 2),
        "at_or_above_p99": len(slow),
        "of_them_during_a_pause": overlapping(slow, long),
    }
