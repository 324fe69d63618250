"""The campaign sending window on the doctor's clock (julia/worker/sending_window.py): the hours, a window
across midnight, weekends, national holidays and extra dates, and the next opening after each."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from julia.settings import Settings
from julia.worker.sending_window import SendingWindow, easter, national_holidays

SP = ZoneInfo("America/Sao_Paulo")
MANAUS = "America/Manaus"
MONDAY = dt.date(2026, 12, 7)  # a Monday, no holiday


def window(**campos: object) -> SendingWindow:
    return SendingWindow(Settings(**campos))  # type: ignore[arg-type]


def em_sp(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SP)


def test_inside_the_hours_goes_now_outside_them_at_the_next_opening() -> None:
    j = window(campanha_hora_inicio=8, campanha_hora_fim=20)
    assert j.next_opening(em_sp(MONDAY, 10), None) is None
    assert j.next_opening(em_sp(MONDAY, 7, 59), None) == em_sp(MONDAY, 8)
    assert j.next_opening(em_sp(MONDAY, 20), None) == em_sp(MONDAY + dt.timedelta(days=1), 8)


def test_the_clock_is_the_medicos() -> None:
    j = window(campanha_hora_inicio=8, campanha_hora_fim=20)
    # 08:30 in São Paulo is 07:30 in Manaus: not yet there; its opening is 09:00 São Paulo time.
    opening = j.next_opening(em_sp(MONDAY, 8, 30), MANAUS)
    assert opening == dt.datetime.combine(MONDAY, dt.time(8), tzinfo=ZoneInfo(MANAUS))
    assert opening is not None
    assert opening.astimezone(SP).hour == 9
    # 20:30 in São Paulo is 19:30 in Manaus: still open there.
    assert j.next_opening(em_sp(MONDAY, 20, 30), MANAUS) is None


def test_a_window_past_midnight_belongs_to_the_day_it_opened() -> None:
    j = window(campanha_hora_inicio=22, campanha_hora_fim=6, campanha_on_weekends=False)
    assert j.next_opening(em_sp(MONDAY, 23), None) is None
    assert j.next_opening(em_sp(MONDAY + dt.timedelta(days=1), 5), None) is None  # Monday's night
    friday = dt.date(2026, 12, 11)
    assert j.next_opening(em_sp(friday + dt.timedelta(days=1), 2), None) is None  # Friday's night
    # Saturday's night does not open: the next is Monday's, at 22:00.
    assert j.next_opening(em_sp(friday + dt.timedelta(days=1), 22), None) == em_sp(
        MONDAY + dt.timedelta(days=7), 22
    )


def test_weekend_and_holidays_configurable() -> None:
    saturday = dt.date(2026, 12, 12)
    closed = window()
    assert closed.next_opening(em_sp(saturday, 10), None) == em_sp(MONDAY + dt.timedelta(days=7), 8)
    assert window(campanha_on_weekends=True).next_opening(em_sp(saturday, 10), None) is None
    natal = dt.date(2026, 12, 25)  # a Friday
    assert closed.next_opening(em_sp(natal, 10), None) == em_sp(dt.date(2026, 12, 28), 8)
    assert window(campanha_on_holidays=True).next_opening(em_sp(natal, 10), None) is None
    extra = window(campanha_on_holidays=True, campanha_extra_holidays=[MONDAY])
    assert extra.next_opening(em_sp(MONDAY, 10), None) == em_sp(MONDAY + dt.timedelta(days=1), 8)


def test_always_open() -> None:
    j = window(
        campanha_hora_inicio=0, campanha_hora_fim=24, campanha_on_weekends=True, campanha_on_holidays=True
    )
    assert j.next_opening(em_sp(dt.date(2026, 12, 25), 3), "America/Rio_Branco") is None


@pytest.mark.parametrize(
    ("year", "easter_day"),
    [(2024, dt.date(2024, 3, 31)), (2025, dt.date(2025, 4, 20)), (2026, dt.date(2026, 4, 5))],
)
def test_easter_and_good_friday(year: int, easter_day: dt.date) -> None:
    assert easter(year) == easter_day
    assert easter_day - dt.timedelta(days=2) in national_holidays(year)


def test_national_holidays_of_2026() -> None:
    assert len(national_holidays(2026)) == 10
    assert dt.date(2026, 11, 20) in national_holidays(2026)  # Consciência Negra, national since 2024


def test_ddd_with_two_timezones_only_when_both_are_open() -> None:
    j = window(campanha_hora_inicio=8, campanha_hora_fim=20)
    noronha = "America/Recife America/Noronha"  # DDD 81: UTC-3 and UTC-2
    recife = ZoneInfo("America/Recife")
    # 19:30 in Recife is 20:30 on Noronha: closed there, so closed; next: 08:00 Recife (09:00 Noronha).
    as_19_30 = dt.datetime.combine(MONDAY, dt.time(19, 30), tzinfo=recife)
    assert j.next_opening(as_19_30, noronha) == dt.datetime.combine(
        MONDAY + dt.timedelta(days=1), dt.time(8), tzinfo=recife
    )
    assert j.next_opening(as_19_30 - dt.timedelta(hours=1), noronha) is None
    # DDD 97: Acre time (UTC-5) and Manaus time (UTC-4): 08:30 in Manaus is 07:30 in Eirunepé.
    amazonas = "America/Eirunepe America/Manaus"
    manaus = ZoneInfo(MANAUS)
    opening = j.next_opening(dt.datetime.combine(MONDAY, dt.time(8, 30), tzinfo=manaus), amazonas)
    assert opening is not None
    assert opening.astimezone(manaus) == dt.datetime.combine(MONDAY, dt.time(9), tzinfo=manaus)
    # 19:30 in Manaus (18:30 in Eirunepé) is still open in both.
    assert j.next_opening(dt.datetime.combine(MONDAY, dt.time(19, 30), tzinfo=manaus), amazonas) is None


def test_windows_that_never_meet_keep_the_western_timezone() -> None:
    j = window(campanha_hora_inicio=8, campanha_hora_fim=9)  # an hour: Recife's and Noronha's never meet
    recife = ZoneInfo("America/Recife")
    opening = j.next_opening(
        dt.datetime.combine(MONDAY, dt.time(7), tzinfo=recife), "America/Recife America/Noronha"
    )
    assert opening == dt.datetime.combine(MONDAY, dt.time(8), tzinfo=recife)
