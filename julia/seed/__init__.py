"""Synthetic doctors at scale: deterministic, realistic, loaded with COPY (`julia seed --doctors N`)."""

from julia.seed.load import SeedSummary, seed

__all__ = ["SeedSummary", "seed"]
