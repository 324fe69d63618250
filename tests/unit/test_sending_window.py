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
SEGUNDA = dt.date(2026, 12, 7)  # a Monday, no holiday


def janela(**campos: object) -> SendingWindow:
    return SendingWindow(Settings(**campos))  # type: ignore[arg-type]


def em_sp(dia: dt.date, hora: int, minuto: int = 0) -> dt.datetime:
    return dt.datetime.combine(dia, dt.time(hora, minuto), tzinfo=SP)


def test_dentro_das_horas_vai_agora_fora_delas_vai_na_proxima_abertura() -> None:
    j = janela(campanha_hora_inicio=8, campanha_hora_fim=20)
    assert j.next_opening(em_sp(SEGUNDA, 10), None) is None
    assert j.next_opening(em_sp(SEGUNDA, 7, 59), None) == em_sp(SEGUNDA, 8)
    assert j.next_opening(em_sp(SEGUNDA, 20), None) == em_sp(SEGUNDA + dt.timedelta(days=1), 8)


def test_o_relogio_e_o_do_medico() -> None:
    j = janela(campanha_hora_inicio=8, campanha_hora_fim=20)
    # 08:30 in São Paulo is 07:30 in Manaus: not yet there; its opening is 09:00 São Paulo time.
    abertura = j.next_opening(em_sp(SEGUNDA, 8, 30), MANAUS)
    assert abertura == dt.datetime.combine(SEGUNDA, dt.time(8), tzinfo=ZoneInfo(MANAUS))
    assert abertura is not None
    assert abertura.astimezone(SP).hour == 9
    # 20:30 in São Paulo is 19:30 in Manaus: still open there.
    assert j.next_opening(em_sp(SEGUNDA, 20, 30), MANAUS) is None


def test_janela_que_passa_da_meia_noite_pertence_ao_dia_em_que_abriu() -> None:
    j = janela(campanha_hora_inicio=22, campanha_hora_fim=6, campanha_on_weekends=False)
    assert j.next_opening(em_sp(SEGUNDA, 23), None) is None
    assert j.next_opening(em_sp(SEGUNDA + dt.timedelta(days=1), 5), None) is None  # Monday's night
    sexta = dt.date(2026, 12, 11)
    assert j.next_opening(em_sp(sexta + dt.timedelta(days=1), 2), None) is None  # Friday's night
    # Saturday's night does not open: the next is Monday's, at 22:00.
    assert j.next_opening(em_sp(sexta + dt.timedelta(days=1), 22), None) == em_sp(
        SEGUNDA + dt.timedelta(days=7), 22
    )


def test_fim_de_semana_e_feriados_configuraveis() -> None:
    sabado = dt.date(2026, 12, 12)
    fechada = janela()
    assert fechada.next_opening(em_sp(sabado, 10), None) == em_sp(SEGUNDA + dt.timedelta(days=7), 8)
    assert janela(campanha_on_weekends=True).next_opening(em_sp(sabado, 10), None) is None
    natal = dt.date(2026, 12, 25)  # a Friday
    assert fechada.next_opening(em_sp(natal, 10), None) == em_sp(dt.date(2026, 12, 28), 8)
    assert janela(campanha_on_holidays=True).next_opening(em_sp(natal, 10), None) is None
    extra = janela(campanha_on_holidays=True, campanha_extra_holidays=[SEGUNDA])
    assert extra.next_opening(em_sp(SEGUNDA, 10), None) == em_sp(SEGUNDA + dt.timedelta(days=1), 8)


def test_sempre_aberta() -> None:
    j = janela(
        campanha_hora_inicio=0, campanha_hora_fim=24, campanha_on_weekends=True, campanha_on_holidays=True
    )
    assert j.next_opening(em_sp(dt.date(2026, 12, 25), 3), "America/Rio_Branco") is None


@pytest.mark.parametrize(
    ("ano", "pascoa"),
    [(2024, dt.date(2024, 3, 31)), (2025, dt.date(2025, 4, 20)), (2026, dt.date(2026, 4, 5))],
)
def test_pascoa_e_sexta_feira_santa(ano: int, pascoa: dt.date) -> None:
    assert easter(ano) == pascoa
    assert pascoa - dt.timedelta(days=2) in national_holidays(ano)


def test_feriados_nacionais_de_2026() -> None:
    assert len(national_holidays(2026)) == 10
    assert dt.date(2026, 11, 20) in national_holidays(2026)  # Consciência Negra, national since 2024


def test_ddd_com_dois_fusos_so_quando_os_dois_estao_abertos() -> None:
    j = janela(campanha_hora_inicio=8, campanha_hora_fim=20)
    noronha = "America/Recife America/Noronha"  # DDD 81: UTC-3 and UTC-2
    recife = ZoneInfo("America/Recife")
    # 19:30 in Recife is 20:30 on Noronha: closed there, so closed; next: 08:00 Recife (09:00 Noronha).
    as_19_30 = dt.datetime.combine(SEGUNDA, dt.time(19, 30), tzinfo=recife)
    assert j.next_opening(as_19_30, noronha) == dt.datetime.combine(
        SEGUNDA + dt.timedelta(days=1), dt.time(8), tzinfo=recife
    )
    assert j.next_opening(as_19_30 - dt.timedelta(hours=1), noronha) is None
    # DDD 97: Acre time (UTC-5) and Manaus time (UTC-4): 08:30 in Manaus is 07:30 in Eirunepé.
    amazonas = "America/Eirunepe America/Manaus"
    manaus = ZoneInfo(MANAUS)
    abertura = j.next_opening(dt.datetime.combine(SEGUNDA, dt.time(8, 30), tzinfo=manaus), amazonas)
    assert abertura is not None
    assert abertura.astimezone(manaus) == dt.datetime.combine(SEGUNDA, dt.time(9), tzinfo=manaus)
    # 19:30 in Manaus (18:30 in Eirunepé) is still open in both.
    assert j.next_opening(dt.datetime.combine(SEGUNDA, dt.time(19, 30), tzinfo=manaus), amazonas) is None


def test_janelas_que_nunca_se_cruzam_ficam_com_o_fuso_do_oeste() -> None:
    j = janela(campanha_hora_inicio=8, campanha_hora_fim=9)  # an hour: Recife's and Noronha's never meet
    recife = ZoneInfo("America/Recife")
    abertura = j.next_opening(
        dt.datetime.combine(SEGUNDA, dt.time(7), tzinfo=recife), "America/Recife America/Noronha"
    )
    assert abertura == dt.datetime.combine(SEGUNDA, dt.time(8), tzinfo=recife)
