"""Offers follow the doctor (julia/services/preferences.py): the state of their CRM, however written, and
their preferred periods and minimum value first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from julia.services.preferences import describe, sort, uf_do_crm


@pytest.mark.parametrize(
    ("crm", "uf"),
    [
        ("CRM/SP 123456", "SP"),
        ("CRM-RJ 52.123", "RJ"),
        ("123456/MG", "MG"),
        ("crm sp 123456", "SP"),
        ("123456", None),
        (None, None),
        ("CRM/SP 1 e CRM/RJ 2", None),  # two states: none assumed
        ("CRMXX 1", None),
    ],
)
def test_uf_do_crm(crm: str | None, uf: str | None) -> None:
    assert uf_do_crm(crm) == uf


def test_preferred_first_in_date_order() -> None:
    vagas = [
        {"id": 1, "periodo": "Diurno", "valor": Decimal("2000")},
        {"id": 2, "periodo": "Noturno", "valor": Decimal("900")},
        {"id": 3, "periodo": "Noturno", "valor": "1500.00"},
        {"id": 4, "periodo": "Noturno", "valor": Decimal("1800")},
    ]
    prefs = {"periodos": ["Noturno"], "valor_minimo": 1000}
    assert [v["id"] for v in sort(vagas, prefs)] == [3, 4, 1, 2]
    assert [v["id"] for v in sort(vagas, {})] == [1, 2, 3, 4]


def test_preferences_in_words() -> None:
    assert describe({"periodos": ["Noturno", "Diurno"], "valor_minimo": 1200, "raio_km": 50}) == (
        "períodos Noturno, Diurno; valor mínimo R$ 1.200,00"
    )
    assert describe({}) is None
    assert describe({"valor_minimo": "muito"}) is None
