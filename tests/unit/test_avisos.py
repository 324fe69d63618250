"""Which coordinator edits tell the doctor holding the shift, and in which words
(julia/services/avisos.py aviso_de_mudanca)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from julia.data.vagas import UpdatedVaga
from julia.services.avisos import change_aviso

DAY = dt.date(2026, 12, 12)


def vaga(**mudou: Any) -> UpdatedVaga:
    shift = {
        "id": 1,
        "hospital_id": 1,
        "especialidade_id": 1,
        "periodo_id": 1,
        "cliente_id": 7,
        "reservada_em": None,
    }
    antes = {
        "status_antes": "reservada",
        "cliente_antes": 7,
        "data_antes": DAY,
        "valor_antes": Decimal("1500"),
    }
    depois = {
        "status": "reservada",
        "data_plantao": DAY,
        "valor": Decimal("1500"),
        "hospital": "Hospital Santa Luzia",
        "cidade": "Campinas",
        "estado": "SP",
        "periodo": "Noturno",
        "hora_inicio": dt.time(19),
        "hora_fim": dt.time(7),
    }
    return UpdatedVaga(**{**shift, **antes, **depois, **mudou})


def test_nobody_held_it_nobody_is_told() -> None:
    assert change_aviso(vaga(status_antes="aberta", cliente_antes=None, status="cancelada")) is None
    # A cancelled shift that kept its doctor, edited again: the doctor was told when it was cancelled.
    assert change_aviso(vaga(status_antes="cancelada", status="cancelada", valor=Decimal("1"))) is None


def test_nothing_the_medico_cares_about_makes_no_aviso() -> None:
    assert change_aviso(vaga()) is None
    assert change_aviso(vaga(status_antes="preenchida", status="preenchida")) is None


def test_value_and_date_changed_together() -> None:
    message = change_aviso(vaga(valor=Decimal("1800"), data_plantao=DAY + dt.timedelta(days=1)))
    assert message is not None
    assert message.template.name == "plantao_alterado"
    aviso = message.text
    assert "a data passou de sábado, 12/12/2026 para domingo, 13/12/2026" in aviso
    assert "o valor passou de R$ 1.500,00 para R$ 1.800,00" in aviso
    assert aviso.endswith(
        "Como ficou: domingo, 13/12/2026, Noturno (19:00-07:00), Hospital Santa Luzia, "
        "Campinas/SP: R$ 1.800,00."
    )
