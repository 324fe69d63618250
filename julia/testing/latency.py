"""A latency distribution given as an operator reads one: median and p99 (lognormal between them)."""

from __future__ import annotations

import math
import random

from pydantic import BaseModel, Field, model_validator

# z of the 99th percentile of the standard normal: p99 = median * exp(Z99 * sigma).
Z99 = 2.3263478740408408


class Latency(BaseModel):
    """Lognormal with this median and p99, in milliseconds; 0/0 answers at once, p99 == median is fixed."""

    mediana_ms: float = Field(default=0.0, ge=0)
    p99_ms: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _p99_not_below_median(self) -> Latency:
        if self.p99_ms < self.mediana_ms:
            self.p99_ms = self.mediana_ms  # "median 2 s" alone means a fixed 2 s, not an error
        return self

    def sample_s(self, rng: random.Random) -> float:
        if self.mediana_ms <= 0:
            return 0.0
        sigma = math.log(self.p99_ms / self.mediana_ms) / Z99
        return rng.lognormvariate(math.log(self.mediana_ms), sigma) / 1000.0
