"""Synthetic doctors at scale: deterministic, realistic, loaded with COPY (`julia seed --doctors N`)."""

from julia.seed.load import SeedSummary, check_doctors, seed

__all__ = ["SeedSummary", "check_doctors", "seed"]
