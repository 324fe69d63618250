"""No false promises: a reply's claim of a reservation is checked against what reservar_vaga did in the
turn (julia/worker/promessas.py), and the confirmation is the tool's result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from julia.services import reservas
from julia.services.reservas import Reserva
from julia.worker.promessas import NAO_RESERVEI, afirma_reserva, conferir

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
DESCRICAO = "sábado, 12/12/2026, Noturno (19:00-07:00), Hospital Santa Luzia, Campinas/SP: R$ 1.500,00"


@pytest.mark.parametrize(
    "frase",
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
def test_afirmacoes_de_reserva(frase: str) -> None:
    assert afirma_reserva(frase)


@pytest.mark.parametrize(
    "frase",
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
def test_o_que_nao_e_afirmacao(frase: str) -> None:
    assert not afirma_reserva(frase)


def test_a_confirmacao_vem_do_resultado_e_nao_do_texto_de_claude() -> None:
    feita = Reserva(True, True, None, VAGA)
    texto = "Pronto, Dra. Ana! Reservei o plantão de domingo por R$ 2.000,00. Quer ver outras datas?"
    resposta = conferir(texto, [feita])
    assert resposta.startswith(f"Reservei para você a vaga 12: {DESCRICAO}. Ela aguarda a confirmação")
    assert "domingo" not in resposta
    assert "2.000" not in resposta
    assert resposta.endswith("\n\nPronto, Dra. Ana! Quer ver outras datas?")


def test_afirmar_reserva_que_nenhuma_ferramenta_fez_e_corrigido() -> None:
    assert conferir("Reservei a vaga 12 para você! Até sábado.", []) == f"Até sábado.\n\n{NAO_RESERVEI}"
    assert conferir("Reserva feita!", []) == NAO_RESERVEI


def test_reserva_recusada_e_afirmada_diz_o_motivo_verdadeiro() -> None:
    recusada = Reserva(False, False, reservas.CANCELADA, VAGA)
    assert conferir("Reservei!", [recusada]) == (
        "Correção: não consegui reservar a vaga 12: foi cancelada pelo hospital."
    )
    limite = Reserva(False, False, reservas.LIMITE, VAGA, abertas=3)
    assert "você já tem 3 reservas aguardando" in conferir("Plantão reservado!", [limite])


def test_texto_sem_afirmacao_passa_como_esta() -> None:
    recusada = Reserva(False, False, reservas.TOMADA, VAGA)
    texto = "Essa vaga já foi reservada por outro médico. Tenho outra no domingo."
    assert conferir(texto, [recusada]) == texto
    assert conferir("Olá! Como posso ajudar?", []) == "Olá! Como posso ajudar?"
