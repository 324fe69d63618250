"""The time the doctors and hospitals live by: São Paulo's (America/Sao_Paulo), whatever zone the process
runs in (UTC in the container). "Today", "amanhã" and "sábado" are São Paulo's; shift hours are local
hours there (julia_horario_vaga in migrations/0011_reservas_regras.sql uses the same zone)."""

from __future__ import annotations

import datetime as dt
from typing import Final
from zoneinfo import ZoneInfo

TIMEZONE: Final = ZoneInfo("America/Sao_Paulo")
WEEKDAYS: Final = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)


def now() -> dt.datetime:
    return dt.datetime.now(TIMEZONE)


def today() -> dt.date:
    return now().date()


def weekday(day: dt.date) -> str:
    return WEEKDAYS[day.weekday()]
