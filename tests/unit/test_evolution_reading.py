"""What julia reads of each kind of `messages.upsert`, `messages.edited` and `messages.delete` body
(issue 33: every message a person wrote), on Evolution 2.3.6's own bodies (tests/support/evolution/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from julia.integrations.evolution import (
    Change,
    InvalidPayload,
    Reaction,
    Receipt,
    read_edit,
    read_message,
    read_receipt,
    read_removal,
)
from julia.testing.evolution import whatsapp_receipt

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "evolution"


def dados(nome: str) -> dict[str, Any]:
    corpo: dict[str, Any] = json.loads((FIXTURES / f"{nome}.json").read_text(encoding="utf-8"))["data"]
    return corpo


def with_message(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = dados("texto_antigo")
    base["message"] = message
    base.update(extra)
    return base


def test_voice_note() -> None:
    msg = read_message(dados("audio_voz"))
    assert msg is not None
    assert (msg.texto, msg.tratamento, msg.telefone) == ("[mensagem de voz]", "pedir_texto", "+5511999990000")
    assert msg.enviada_em == 1729521700


def test_image_caption_is_text() -> None:
    msg = read_message(dados("imagem_legenda"))
    assert msg is not None
    assert (msg.texto, msg.tratamento) == (
        "[imagem com a legenda:] Meu CRM, pode reservar o de sábado",
        "responder",
    )


def test_reaction_names_the_message_it_is_about() -> None:
    msg = read_message(dados("reacao"))
    assert msg is not None
    assert msg.reaction == Reaction("👍", "3EB0JULIA0001")
    assert msg.tratamento == "responder"


def test_quote_goes_before_the_text_and_stop_words_are_read_without_it() -> None:
    msg = read_message(dados("resposta_citada"))
    assert msg is not None
    assert msg.texto.startswith('[em resposta a: "Plantão sábado 7h-19h')
    assert msg.written == "Sim, quero esse"


def test_lid_without_alt_has_no_phone() -> None:
    msg = read_message(dados("lid_sem_alt"))
    assert msg is not None
    assert (msg.telefone, msg.jid) == (None, "107283991239804@lid")


def test_lid_with_alt_uses_it() -> None:
    corpo = dados("lid_sem_alt")
    corpo["key"]["remoteJidAlt"] = "5511999990000@s.whatsapp.net"
    msg = read_message(corpo)
    assert msg is not None
    assert msg.telefone == "+5511999990000"


@pytest.mark.parametrize(
    ("message", "texto", "tratamento"),
    [
        ({"audioMessage": {"ptt": False}}, "[áudio]", "pedir_texto"),
        (
            {"speechToText": "[audio] aceito o de sábado", "audioMessage": {"ptt": True}},
            "[mensagem de voz, transcrita] aceito o de sábado",
            "responder",
        ),
        ({"documentMessage": {"fileName": "crm.pdf"}}, "[documento: crm.pdf]", "pedir_texto"),
        ({"videoMessage": {"caption": "olha"}}, "[vídeo com a legenda:] olha", "responder"),
        ({"ephemeralMessage": {"message": {"extendedTextMessage": {"text": "oi"}}}}, "oi", "responder"),
        ({"viewOnceMessageV2": {"message": {"imageMessage": {}}}}, "[imagem]", "pedir_texto"),
        ({"buttonsResponseMessage": {"selectedDisplayText": "Sim"}}, "Sim", "responder"),
        ({"templateButtonReplyMessage": {"selectedDisplayText": "Quero"}}, "Quero", "responder"),
        (
            {"listResponseMessage": {"singleSelectReply": {"selectedRowId": "vaga_42"}}},
            "vaga_42",
            "responder",
        ),
        ({"interactiveResponseMessage": {"body": {"text": "Sábado"}}}, "Sábado", "responder"),
        ({"stickerMessage": {"url": "x"}}, "[figurinha]", "registrar"),
        ({"locationMessage": {"degreesLatitude": -23.5}}, "[localização]", "pedir_texto"),
        ({"contactMessage": {"displayName": "Dr. Beto"}}, "[contato: Dr. Beto]", "pedir_texto"),
    ],
)
def test_each_kind(message: dict[str, Any], texto: str, tratamento: str) -> None:
    msg = read_message(with_message(message))
    assert msg is not None
    assert (msg.texto, msg.tratamento) == (texto, tratamento)


@pytest.mark.parametrize(
    "message",
    [
        {"protocolMessage": {"type": "EPHEMERAL_SETTING"}},
        {"senderKeyDistributionMessage": {"groupId": "x"}},
        {"reactionMessage": {"key": {"id": "3EB0"}, "text": ""}},
        {"imageMessage": "not an object"},
        {},
    ],
)
def test_no_persons_message_is_ignored(message: dict[str, Any]) -> None:
    assert read_message(with_message(message)) is None


@pytest.mark.parametrize(
    ("stamp", "read_one"),
    [
        (1729521700, 1729521700),
        ("1729521700", 1729521700),
        ({"low": 1729521700, "high": 0}, 1729521700),
        (None, None),
        ("ontem", None),
        (True, None),
        (1729521700.9, 1729521700),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_message_timestamp(stamp: object, read_one: int | None) -> None:
    msg = read_message(with_message({"conversation": "oi"}, messageTimestamp=stamp))
    assert msg is not None
    assert msg.enviada_em == read_one


def test_edit_and_delete() -> None:
    assert read_edit(dados("edicao")) == Change(
        "3EB0ORIGINAL0001", "Na verdade, prefiro o de domingo", "3EB0ORIGINAL0001:editada:1729521760000"
    )
    assert read_removal(dados("remocao")) == Change("3EB0ORIGINAL0001", None, "3EB0ORIGINAL0001:apagada")


def test_only_a_doctors_edit_counts() -> None:
    revocation = dados("edicao") | {"type": "REVOKE"}
    own = dados("edicao")
    own["key"]["fromMe"] = True
    assert read_edit(revocation) is None
    assert read_edit(own) is None
    assert read_removal({"key": {"id": "X", "fromMe": True}, "status": "DELETED"}) is None


def test_delete_without_id_is_refused() -> None:
    with pytest.raises(InvalidPayload):
        read_removal({"remoteJid": "5511999990000@s.whatsapp.net", "fromMe": False})


def test_a_reaction_to_an_id_postgres_could_not_match_still_stands() -> None:
    msg = read_message(with_message({"reactionMessage": {"key": {"id": "x\x00y"}, "text": "❤️"}}))
    assert msg is not None
    assert msg.reaction == Reaction("❤️", None)
    assert msg.texto == "[reagiu com ❤️ a uma mensagem anterior]"


def test_stop_words_are_read_in_a_caption_and_a_transcript() -> None:
    """ "PARAR" written on a photo, or said in a transcribed voice note, opts out like a text does."""
    from julia.services.opt_out import asks_opt_out

    for message, words in (
        ({"imageMessage": {"caption": "PARAR"}}, "PARAR"),
        ({"documentMessage": {"caption": "parar", "fileName": "x.pdf"}}, "parar"),
        ({"speechToText": "[audio] parar"}, "parar"),
    ):
        msg = read_message(with_message(message))
        assert msg is not None
        assert msg.written == words
        assert asks_opt_out(msg.written)
    without_caption = read_message(with_message({"documentMessage": {"fileName": "parar.pdf"}}))
    assert without_caption is not None
    assert not asks_opt_out(without_caption.written)  # a file's name is not the person's words


@pytest.mark.parametrize(
    ("integracao", "status", "estado"),
    [
        ("baileys", "DELIVERY_ACK", "entregue"),
        ("baileys", "READ", "lida"),
        ("baileys", "PLAYED", "lida"),
        ("baileys", "ERROR", "falhou"),
        ("cloud-api", "DELIVERED", "entregue"),
        ("cloud-api", "READ", "lida"),
        ("cloud-api", "FAILED", "falhou"),
    ],
)
def test_a_receipt_is_read_from_both_integrations(integracao: str, status: str, estado: str) -> None:
    data = whatsapp_receipt("3EB0R", "5511999990000", status, integracao=integracao)["data"]
    assert read_receipt(data) == Receipt("3EB0R", estado, status)  # type: ignore[arg-type]
    assert read_receipt([data]) == Receipt("3EB0R", estado, status)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["SERVER_ACK", "SENT", "PENDING", "DELETED", "NOVO", None, 3])
def test_a_status_that_is_no_delivery_outcome_is_ignored(status: object) -> None:
    assert read_receipt({"keyId": "3EB0R", "status": status}) is None


@pytest.mark.parametrize(
    ("data", "motivo"),
    [({"status": "READ"}, "data.keyId is missing"), ("READ", "data must be an object"), ([], "data must be")],
)
def test_a_receipt_without_an_id_is_refused(data: object, motivo: str) -> None:
    with pytest.raises(InvalidPayload, match=motivo):
        read_receipt(data)
