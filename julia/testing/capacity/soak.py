"""`python -m julia.testing.capacity --soak MINUTES`: the gate's storm rate (15 doctors a second, one
worker, the same fakes) held for MINUTES, a new doctor each message. Its benchmarks (capacity_soak...,
julia.testing.capacity.benches) fail, beside the storm's own counts, when a julia process's USS grows
faster than perf/budgets.toml's [load.capacity_soak] limit per 1,000 messages over the later half of the
run (julia.perf.engine.memory.growth_per_1000: the first half holds the warm-up). That file says why the
limit is what it is; the evidence that it catches a leak of one object per message is in
docs/performance.md ("The soak catches a leak of one object per message").
"""

from __future__ import annotations

from julia.testing.capacity.gate import SHORT_STORM
from julia.testing.capacity.load import Scenario

RATE_PER_S = SHORT_STORM.medicos / SHORT_STORM.window_s


def scenario(minutes: float) -> Scenario:
    window_s = 60.0 * minutes
    return Scenario(medicos=round(RATE_PER_S * window_s), window_s=window_s, workers=1, drain_s=30.0)
