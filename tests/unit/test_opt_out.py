"""The deterministic opt-out words: the whole message, accents, case and punctuation aside."""

from __future__ import annotations

import pytest

from julia.services.opt_out import pede_opt_out


@pytest.mark.parametrize(
    "texto",
    [
        "PARAR",
        "parar",
        " Sair ",
        "SAIR.",
        "Não quero mais receber",
        "nao quero mais receber!!",
        "STOP",
        "Pare",
    ],
)
def test_stop_words_opt_out(texto: str) -> None:
    assert pede_opt_out(texto)


@pytest.mark.parametrize(
    "texto",
    [
        "Não quero sair do plantão de sábado",
        "pode parar de reservar?",
        "quero receber mais plantões",
        "sair às 19h dá?",
        "",
    ],
)
def test_other_messages_do_not(texto: str) -> None:
    assert not pede_opt_out(texto)
