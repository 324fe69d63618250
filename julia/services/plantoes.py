"""A shift as people read it, the one wording of a shift wherever Júlia or a notice names one (the
context Claude reads, tool results, confirmations, notices of changes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from julia.clock import weekday


def value_in_reais(valor: Any) -> str:
    """R$ 1.500,00 from a Decimal or a decimal string."""
    return "R$ " + f"{Decimal(str(valor)):,.2f}".translate(str.maketrans(",.", ".,"))


def describe(vaga: Mapping[str, Any]) -> str:
    """A shift as people read it: sábado, 05/12/2026, Noturno (19:00-07:00), Hospital X, Santos/SP:
    R$ 1.500,00. The weekday is written out so nobody (Claude included) has to work it out. Dates, times
    and values may be Python objects (Postgres) or ISO / decimal strings (the cache)."""
    data = dt.date.fromisoformat(str(vaga["data_plantao"]))
    inicio, end = (dt.time.fromisoformat(str(vaga[k])) for k in ("hora_inicio", "hora_fim"))
    return (
        f"{weekday(data)}, {data:%d/%m/%Y}, {vaga['periodo']} ({inicio:%H:%M}-{end:%H:%M}), "
        f"{vaga['hospital']}, "
        f"{vaga['cidade']}/{vaga['estado']}: {value_in_reais(vaga['valor'])}"
    )
