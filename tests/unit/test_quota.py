"""A new Baileys number's daily most ramps up over EVOLUTION_WARMUP_DAYS (julia/worker/quota.py)."""

from __future__ import annotations

import datetime as dt

from julia.settings import Settings
from julia.worker.quota import daily_most

TODAY = dt.date(2026, 12, 7)


def test_without_warmup_the_number_has_the_whole_limit() -> None:
    assert daily_most(Settings(evolution_campanha_max_per_day=500), TODAY) == 500


def test_new_number_ramps_up_slowly() -> None:
    def on_day(n: int) -> int:
        s = Settings(
            evolution_campanha_max_per_day=500,
            evolution_warmup_days=10,
            evolution_warmup_since=TODAY - dt.timedelta(days=n - 1),
        )
        return daily_most(s, TODAY)

    assert [on_day(n) for n in (1, 2, 5, 9, 10, 30)] == [50, 100, 250, 450, 500, 500]
