"""A new Baileys number's daily most ramps up over EVOLUTION_WARMUP_DAYS (julia/worker/quota.py)."""

from __future__ import annotations

import datetime as dt

from julia.settings import Settings
from julia.worker.quota import daily_most

HOJE = dt.date(2026, 12, 7)


def test_sem_aquecimento_o_numero_tem_o_limite_inteiro() -> None:
    assert daily_most(Settings(evolution_campanha_max_per_day=500), HOJE) == 500


def test_numero_novo_sobe_aos_poucos() -> None:
    def no_dia(n: int) -> int:
        s = Settings(
            evolution_campanha_max_per_day=500,
            evolution_warmup_days=10,
            evolution_warmup_since=HOJE - dt.timedelta(days=n - 1),
        )
        return daily_most(s, HOJE)

    assert [no_dia(n) for n in (1, 2, 5, 9, 10, 30)] == [50, 100, 250, 450, 500, 500]
