"""No false promises: a reply's claim of a reservation is checked against what reservar_vaga did in the
turn (julia/worker/promises.py), and the confirmation is the tool's result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from julia.services import reservas
from julia.services.reservas import Reserva
from julia.worker.promises import NOT_RESERVED, check, claims_reserva

VAGA = {
    "id": 12,
    "data_plantao": dt.date(2026, 12, 12),
    "valor": Decimal("1500.00"),
    "hospital": "Hospital Santa Luzia",
    "cidade": "Campinas",
    "estado": "SP",
    "periodo": "Noturno",
    "hora_inicio": dt.time(19),
    "hora_fim": dt.time(7),
}
DESCRIPTION = "sábado, 12/12/2026, Noturno (19:00-07:00), Hospital Santa Luzia, Campinas/SP: R$ 1.500,00"


@pytest.mark.parametrize(
    "sentence",
    [
        "Reservei a vaga para você!",
        "Pronto, já reservei o plantão de sábado.",
        "Fiz a reserva, Dra. Ana.",
        "Reserva confirmada!",
        "Plantão reservado!",
        "O plantão ficou reservado para você.",
        "A vaga foi garantida!",
        "Acabei de reservar o noturno de sábado.",
    ],
)
def test_reserva_claims(sentence: str) -> None:
    assert claims_reserva(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Essa vaga já foi reservada por outro médico.",
        "Não reservei nada ainda: qual vaga você quer?",
        "Quer que eu reserve a vaga 12?",
        "Posso reservar para você o plantão de sábado.",
        "Tenho três plantões abertos em Campinas.",
        "A vaga foi cancelada pelo hospital.",
        # The state of an earlier reservation, which may be true: not a claim of one made now.
        "A vaga 12 está reservada para você desde ontem.",
        "Sua reserva foi confirmada pelo hospital.",
        "Seu plantão está confirmado.",
    ],
)
def test_what_is_not_a_claim(sentence: str) -> None:
    assert not claims_reserva(sentence)


def test_the_confirmation_comes_from_the_result_not_claudes_text() -> None:
    feita = Reserva(True, True, None, VAGA)
    texto = "Pronto, Dra. Ana! Reservei o plantão de domingo por R$ 2.000,00. Quer ver outras datas?"
    resposta = check(texto, [feita])
    assert resposta.startswith(f"Reservei para você a vaga 12: {DESCRIPTION}. Ela aguarda a confirmação")
    assert "domingo" not in resposta
    assert "2.000" not in resposta
    assert resposta.endswith("\n\nPronto, Dra. Ana! Quer ver outras datas?")


def test_claiming_a_reserva_no_tool_made_is_corrected() -> None:
    assert check("Reservei a vaga 12 para você! Até sábado.", []) == f"Até sábado.\n\n{NOT_RESERVED}"
    assert check("Reserva feita!", []) == NOT_RESERVED


def test_refused_and_claimed_reserva_says_the_true_reason() -> None:
    refused = Reserva(False, False, reservas.CANCELLED, VAGA)
    assert check("Reservei!", [refused]) == (
        "Correção: não consegui reservar a vaga 12: foi cancelada pelo hospital."
    )
    limit = Reserva(False, False, reservas.LIMIT, VAGA, abertas=3)
    assert "você já tem 3 reservas aguardando" in check("Plantão reservado!", [limit])


def test_text_without_claims_passes_as_is() -> None:
    refused = Reserva(False, False, reservas.TAKEN, VAGA)
    texto = "Essa vaga já foi reservada por outro médico. Tenho outra no domingo."
    assert check(texto, [refused]) == texto
    assert check("Olá! Como posso ajudar?", []) == "Olá! Como posso ajudar?"
