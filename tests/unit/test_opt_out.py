"""The deterministic opt-out words: the whole message, accents, case and punctuation aside."""

from __future__ import annotations

import pytest

from julia.services.opt_out import CONFIRMATION, CONFIRMATION_BY_TEAM, asks_opt_out, confirms_opt_out


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
    assert asks_opt_out(texto)


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
    assert not asks_opt_out(texto)


@pytest.mark.parametrize(
    "resposta",
    [
        "Tudo bem, você não vai mais receber nossas mensagens.",
        "Pronto! Não enviaremos mais ofertas.",
        "Certo, removi seu número da nossa lista.",
        "Você foi descadastrado.",
        "Entendido, você não receberá mais mensagens da Júlia.",
    ],
)
def test_a_reply_confirming_an_opt_out_is_caught(resposta: str) -> None:
    assert confirms_opt_out(resposta)


@pytest.mark.parametrize(
    "resposta",
    [
        "O plantão de sábado foi reservado. A equipe vai enviar os detalhes.",
        "Você não vai receber o pagamento antes do dia 10.",
        "Não vai mais ter plantão no São Lucas este mês, mas tenho outro no Sírio.",
    ],
)
def test_other_replies_are_not(resposta: str) -> None:
    assert not confirms_opt_out(resposta)


def test_only_a_configured_chatwoot_lets_the_confirmation_promise_a_person() -> None:
    assert "pessoa" not in CONFIRMATION
    assert "uma pessoa da nossa equipe responde" in CONFIRMATION_BY_TEAM
