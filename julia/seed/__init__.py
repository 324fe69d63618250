"""Synthetic doctors at scale: deterministic, realistic, loaded with COPY (`julia seed --doctors N`)."""

# The seed runs its own julia/sql/seed.sql, not through julia/data: a bulk loader's statements (temporary
# tables, COPY targets, catalog reads, session settings) span every table at once and are never run by the
# service, so no table's module would own them.
from julia.seed.load import SeedSummary, check_doctors, seed

__all__ = ["SeedSummary", "check_doctors", "seed"]
