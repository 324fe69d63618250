"""When a campaign message may reach a doctor: inside the daily window (CAMPANHA_HORA_INICIO to
CAMPANHA_HORA_FIM) of the doctor's own clock, on a day that is not a weekend or a holiday unless the settings
allow them (issue 36, point 4).

Checked by the sender right before a campaign row (or a notice that is not urgent: julia/services/avisos.py)
goes (julia/worker/sender.py), not only when it was queued: a row that comes due after a pause or an
outage, at night or on a Sunday, is put off to the doctor's next opening instead of going out. The doctor's
time zone was fixed on the row when it was queued (`fuso`, from their CRM's state or their DDD:
migrations/0015_canal_modelos_janela.sql).

Where state and DDD cannot tell the zone (DDD 81: Recife, UTC-3, and Fernando de Noronha, UTC-2; DDD 97:
Amazonas on Manaus time, UTC-4, and its south-west on Acre time, UTC-5: migrations/0021) `fuso` names both,
the western first, and the window is where both are open: it opens at the western zone's opening and closes
at the eastern one's closing, so nobody on either clock is messaged outside the hours. The price is an hour
of the window for those DDDs' doctors (with 8 to 20: 8 to 19 Recife time), which the business prefers to
an offer at 21:00 on Noronha. A zone set whose windows never overlap (a window of an hour or less) falls
back to the western zone alone, which is the zone campaigns are spread over at enqueue.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from julia.settings import Settings

BRASILIA = "America/Sao_Paulo"
_MAX_DAYS_AHEAD = 31  # more closed days in a row than any calendar has: the settings leave no day open


def easter(year: int) -> dt.date:
    """Easter Sunday (the anonymous Gregorian computation, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=8)
def national_holidays(year: int) -> frozenset[dt.date]:
    """Brazil's national holidays by federal law (Leis 662/1949, 6.802/1980, 14.759/2023) and Good Friday,
    which every state keeps. Carnival and Corpus Christi are optional days off, not holidays: they go in
    CAMPANHA_EXTRA_HOLIDAYS when the business wants them."""
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25)]
    return frozenset([dt.date(year, m, d) for m, d in fixed] + [easter(year) - dt.timedelta(days=2)])


class SendingWindow:
    def __init__(self, settings: Settings) -> None:
        self._start = settings.campanha_hora_inicio
        hours = (settings.campanha_hora_fim - settings.campanha_hora_inicio) % 24
        self._open = dt.timedelta(hours=hours or 24)
        self._weekends = settings.campanha_on_weekends
        self._holidays = settings.campanha_on_holidays
        self._extra = frozenset(settings.campanha_extra_holidays)

    def next_opening(self, now: dt.datetime, zone: str | None) -> dt.datetime | None:
        """None when a campaign message may go now to a doctor in time zone `zone` (None: Brasília time;
        several, space-separated: open in all of them); else when it next may (aware)."""
        zones = (zone or BRASILIA).split()
        moment = now
        for _ in range(_MAX_DAYS_AHEAD * len(zones)):
            openings = [o for z in zones if (o := self._next_opening_in(moment, z)) is not None]
            if not openings:
                return None if moment == now else moment
            moment = max(openings)
        return self._next_opening_in(now, zones[0])  # the windows never overlap: the western zone's

    def _next_opening_in(self, now: dt.datetime, zone: str) -> dt.datetime | None:
        local = now.astimezone(ZoneInfo(zone))
        # The latest opening at or before now, in local wall time: a window crossing midnight belongs to
        # the day it opened.
        opened_on = (local - dt.timedelta(hours=self._start)).date()
        cycle = dt.datetime.combine(opened_on, dt.time(self._start), tzinfo=local.tzinfo)
        if local < cycle + self._open and self._day_open(cycle.date()):
            return None
        for _ in range(_MAX_DAYS_AHEAD):
            cycle = _same_wall_time_next_day(cycle)
            if self._day_open(cycle.date()):
                return cycle
        raise ValueError("the sending-window settings leave no day open in a month")

    def _day_open(self, day: dt.date) -> bool:
        if not self._weekends and day.weekday() >= 5:
            return False
        if day in self._extra:
            return False
        return self._holidays or day not in national_holidays(day.year)


def _same_wall_time_next_day(moment: dt.datetime) -> dt.datetime:
    # Python adds to an aware datetime on the wall clock (zoneinfo derives the offset again), so an opening
    # stays at its hour across a change of offset.
    return moment + dt.timedelta(days=1)
