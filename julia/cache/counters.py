"""Cache counters per kind, read by the metrics and health code through `Cache.counts()`."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Counters:
    hits: int = 0
    misses: int = 0
    # Misses that waited for another caller's load of the same key instead of querying Postgres.
    coalesced: int = 0
    # Redis calls that failed or timed out (the caller was answered from Postgres).
    errors: int = 0
    # Redis calls skipped while the breaker waits out a failure (answered from Postgres, no timeout paid).
    bypassed: int = 0
    loads: int = 0
    load_seconds_sum: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}
