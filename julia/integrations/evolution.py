"""Evolution API v2: reading its webhooks, sending text and templates, reading the instance's integration
(wire format in docs/integrations.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx2

from julia.errors import JuliaError
from julia.integrations import IntegrationError
from julia.integrations.http import nothing_left
from julia.metrics import metrics
from julia.settings import Settings
from julia.templates import Template

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


# WhatsApp ids are ~20-40 characters: a longer one is not WhatsApp's (and would strain the unique index).
MAX_ID = 128
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


# A 400 is Evolution's for a bad request, and also for any error of Baileys' socket while the number is
# disconnected (whatsapp.baileys.service.ts: `throw new BadRequestException(error.toString())`): that one
# is an outage, not the message's fault, and the send is tried again once WhatsApp is back.
_CONNECTION_CLOSED = re.compile(r"Connection Closed", re.IGNORECASE)

# The request may have reached Evolution and been acted on: a proxy gave up waiting for it (504) or could
# not read its answer (502).
_GATEWAY_WITHOUT_REPLY = frozenset({502, 504})


class UncertainSend(IntegrationError):
    """sendText ended without telling whether the message went out (a timeout after the request left, a
    dropped connection, a gateway without Evolution's answer). Sending again could deliver it twice."""


class InvalidPayload(JuliaError):
    """The webhook body lacks a field julia needs; the message says which (returned as the 4xx reason,
    `status`: 422 for a missing field, 400 for a field whose value cannot be an id)."""

    status = 422


class InvalidIdentifier(InvalidPayload):
    """An id-like field (message id, JID, instance, state) holds NUL, a lone surrogate or is too long:
    no WhatsApp id does, and Postgres could not store or match it."""

    status = 400


def clean_text(texto: str) -> str:
    """The doctor's text as Postgres can store it: U+0000 dropped (invisible, and refused by Postgres's
    text type), a lone UTF-16 surrogate (half of a broken emoji; unencodable in UTF-8) replaced by U+FFFD.
    The message is kept: refusing it would make Evolution drop it for good after its retries."""
    return _LONE_SURROGATE.sub("\ufffd", texto.replace("\x00", ""))


def identifier(valor: object, field: str) -> str:
    """An id-like string field, refused (400) rather than repaired: a changed id would match nothing."""
    if not isinstance(valor, str) or not valor:
        raise InvalidPayload(f"{field} is missing")
    if len(valor) > MAX_ID or "\x00" in valor or _LONE_SURROGATE.search(valor):
        raise InvalidIdentifier(f"{field} is not a valid id")
    return valor


# How the worker answers a stored message (migrations/0012_entradas_tratamento.sql says each).
Handling = Literal["responder", "pedir_texto", "desculpar", "registrar", "passar"]


@dataclass(frozen=True)
class Reaction:
    emoji: str
    alvo: str | None  # the WhatsApp id of the message reacted to (julia's sendText key.id when it is hers)


@dataclass(frozen=True)
class ReceivedMessage:
    whatsapp_id: str
    telefone: str | None  # E.164; None: an `@lid` sender Evolution sent without remoteJidAlt
    jid: str
    texto: str  # what is stored and what Claude reads: media and choices described in brackets
    nome: str | None
    tratamento: Handling = "responder"
    enviada_em: int | None = None  # messageTimestamp (unix seconds); None when absent or unreadable
    reaction: Reaction | None = None  # `texto` then names no message yet: descrever_reacao completes it
    written: str = ""  # the doctor's own words in it, without the quote (what the stop words are read in)


@dataclass(frozen=True)
class Change:
    """A doctor edited (`texto`: the new text) or deleted (`texto` None) the message `alvo` (its WhatsApp
    id); `whatsapp_id` names this event itself, so a redelivery stores nothing new."""

    alvo: str
    texto: str | None
    whatsapp_id: str


def phone_e164(jid: str) -> str:
    """`5511999990000@s.whatsapp.net` -> `+5511999990000`.

    Brazilian mobiles registered on WhatsApp before the ninth digit arrive without it (55 + DDD + 8
    digits starting 6-9); the doctor's record has it, so it is put back or the lookup would miss them.
    """
    digits = jid.split("@", 1)[0].split(":", 1)[0]
    # Never echo the JID: the reason goes back in the 4xx body and must be plain, short and valid text.
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidPayload("remoteJid carries no phone number")
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        digits = digits[:4] + "9" + digits[4:]
    telefone = "+" + digits
    if not _E164.match(telefone):
        raise InvalidPayload("remoteJid is not an E.164 number")
    return telefone


# Wrappers Evolution does not unwrap (docs/integrations.md): the content is at <wrapper>.message.<type>.
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)
# Media with an optional caption: how the message is named to Claude and in the history.
_MEDIA = {
    "imageMessage": "imagem",
    "videoMessage": "vídeo",
    "ptvMessage": "vídeo",
    "documentMessage": "documento",
}
QUOTE_MAX = 300  # of a quoted message, in characters: enough to say which offer, never a whole essay


def _str(valor: object) -> str | None:
    """A non-blank string field, repaired for Postgres (texto_limpo); None otherwise."""
    return clean if isinstance(valor, str) and (clean := clean_text(valor)).strip() else None


def _unwrap(message: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):  # wrappers nest at most twice (ephemeral around view-once)
        for nome in _WRAPPERS:
            inside = message.get(nome)
            if isinstance(inside, dict) and isinstance(inside.get("message"), dict):
                message = inside["message"]
                break
        else:
            return message
    return message


def _content(message: Any) -> tuple[str, Handling] | None:
    """What a person wrote or sent, as text, and how to answer it; None for what is no person's message
    (protocol and key-distribution messages, types julia does not know)."""
    if not isinstance(message, dict):
        return None
    message = _unwrap(message)
    extended = message.get("extendedTextMessage")
    if texto := _str(message.get("conversation")) or _str(
        extended.get("text") if isinstance(extended, dict) else None
    ):
        return texto, "responder"
    # Evolution's own speech-to-text, when its OpenAI integration is on: "[audio] <transcript>".
    if transcription := _str(message.get("speechToText")):
        return "[mensagem de voz, transcrita] " + transcription.removeprefix("[audio]").strip(), "responder"
    for kind, valor in message.items():
        if not isinstance(valor, dict):
            continue
        if kind == "audioMessage":
            return ("[mensagem de voz]" if valor.get("ptt") is True else "[áudio]"), "pedir_texto"
        if kind in _MEDIA:
            label = _MEDIA[kind]
            if caption := _str(valor.get("caption")):
                return f"[{label} com a legenda:] {caption}", "responder"
            file = _str(valor.get("fileName"))
            return (f"[{label}: {file}]" if file else f"[{label}]"), "pedir_texto"
        if choice := _choice(kind, valor):
            return choice, "responder"
        if kind == "stickerMessage":  # a sticker is a nod, like an emoji: stored, not answered
            return "[figurinha]", "registrar"
        if kind in ("locationMessage", "liveLocationMessage"):
            return "[localização]", "pedir_texto"
        if kind in ("contactMessage", "contactsArrayMessage"):
            nome = _str(valor.get("displayName"))
            return (f"[contato: {nome}]" if nome else "[contato]"), "pedir_texto"
    return None


# A caption or a transcript is the person's own words behind julia's label: the stop words are read there too
# ("PARAR" written on a photo opts out like a text does).
_WORDS_LABEL = re.compile(r"^\[[^\]]*(?:legenda|transcrita)[^\]]*\] ")


def _choice(kind: str, valor: dict[str, Any]) -> str | None:
    """The text of a button or list choice (the proto fields, docs/integrations.md)."""
    if kind in ("buttonsResponseMessage", "templateButtonReplyMessage"):
        return _str(valor.get("selectedDisplayText"))
    if kind == "listResponseMessage":
        linha = valor.get("singleSelectReply")
        return _str(valor.get("title")) or _str(
            linha.get("selectedRowId") if isinstance(linha, dict) else None
        )
    if kind == "interactiveResponseMessage":
        corpo = valor.get("body")
        return _str(corpo.get("text") if isinstance(corpo, dict) else None)
    return None


def _quote(data: dict[str, Any]) -> str | None:
    """The text of the message this one quotes (a reply to Júlia's offer), cut at CITACAO_MAX. Evolution
    copies the content's contextInfo to the top level; older versions leave it inside the content."""
    contexts = [data.get("contextInfo")]
    message = data.get("message")
    if isinstance(message, dict):
        contexts += [v.get("contextInfo") for v in _unwrap(message).values() if isinstance(v, dict)]
    for context in contexts:
        if isinstance(context, dict) and (quoted := _content(context.get("quotedMessage"))):
            texto = quoted[0]
            return texto if len(texto) <= QUOTE_MAX else texto[:QUOTE_MAX] + "…"
    return None


def _reaction(message: Any) -> Reaction | None:
    reaction = message.get("reactionMessage") if isinstance(message, dict) else None
    if not isinstance(reaction, dict):
        return None
    emoji = _str(reaction.get("text"))
    if emoji is None:  # text "" is a reaction taken back: nothing to store
        return None
    key = reaction.get("key")
    try:
        alvo: str | None = identifier(key.get("id") if isinstance(key, dict) else None, "id")
    except InvalidPayload:  # the reaction stands; which message it is about stays unknown
        alvo = None
    return Reaction(emoji, alvo)


def describe_reaction(reaction: Reaction, quoted: str | None) -> str:
    """A reaction as Claude reads it: what the doctor reacted with, to which message."""
    if quoted is None:
        return f"[reagiu com {reaction.emoji} a uma mensagem anterior]"
    excerpt = quoted if len(quoted) <= QUOTE_MAX else quoted[:QUOTE_MAX] + "…"
    return f'[reagiu com {reaction.emoji} à mensagem: "{excerpt}"]'


def describe_change(change: Change, original: str) -> str:
    """An edit or a delete as Claude and the history read it, quoting the message it changed."""
    excerpt = original if len(original) <= QUOTE_MAX else original[:QUOTE_MAX] + "…"
    if change.texto is None:
        return f'[apagou a mensagem: "{excerpt}"]'
    return f'[editou a mensagem "{excerpt}" para:] {change.texto}'


def _stamp(valor: object) -> int | None:
    """messageTimestamp: unix seconds, a number (also tolerated: a digit string, a protobuf Long)."""
    if isinstance(valor, dict):  # {"low": ..., "high": ..., "unsigned": ...}
        low, alto = valor.get("low"), valor.get("high")
        if isinstance(low, int) and isinstance(alto, int):
            return (alto << 32) | (low & 0xFFFFFFFF)
        return None
    if isinstance(valor, str) and valor.isascii() and valor.isdigit():
        return int(valor)
    if isinstance(valor, int) and not isinstance(valor, bool):
        return valor
    if isinstance(valor, float) and math.isfinite(valor):  # json.loads also takes NaN and Infinity
        return int(valor)
    return None


def read_message(data: Any) -> ReceivedMessage | None:
    """A `messages.upsert` data object -> the message to store, or None when julia must ignore it (its
    own message, a group, a status post, a reaction taken back, a protocol message). Raises
    PayloadInvalido when fields are missing."""
    if not isinstance(data, dict):
        raise InvalidPayload("data must be an object")
    key = data.get("key")
    if not isinstance(key, dict):
        raise InvalidPayload("data.key is missing")
    jid = identifier(key.get("remoteJid"), "data.key.remoteJid")
    whatsapp_id = identifier(key.get("id"), "data.key.id")
    if key.get("fromMe") is True or jid.endswith("@g.us") or jid == "status@broadcast":
        return None
    telefone: str | None = None
    if jid.endswith("@lid"):
        # addressingMode "lid": the phone number travels in remoteJidAlt, when Evolution has it.
        if key.get("remoteJidAlt") is not None:
            jid = identifier(key.get("remoteJidAlt"), "data.key.remoteJidAlt")
            telefone = phone_e164(jid)
    else:
        telefone = phone_e164(jid)
    message = data.get("message")
    reaction = _reaction(message)
    conteudo: tuple[str, Handling] | None = (
        (describe_reaction(reaction, None), "responder") if reaction else _content(message)
    )
    if conteudo is None:
        return None
    written, tratamento = conteudo
    texto = f'[em resposta a: "{quoted}"] {written}' if (quoted := _quote(data)) else written
    nome = data.get("pushName")
    return ReceivedMessage(
        whatsapp_id,
        telefone,
        jid,
        texto,
        clean_text(nome) if isinstance(nome, str) else None,
        tratamento,
        _stamp(data.get("messageTimestamp")),
        reaction,
        _WORDS_LABEL.sub("", written, count=1),
    )


def read_edit(data: Any) -> Change | None:
    """`messages.edited`: `data` is WhatsApp's protocolMessage (docs/integrations.md). It fires for every
    protocol message: only a MESSAGE_EDIT (14) of the doctor's own message is one; None otherwise."""
    if not isinstance(data, dict) or data.get("type") not in ("MESSAGE_EDIT", 14):
        return None
    key = data.get("key")
    if not isinstance(key, dict):
        raise InvalidPayload("data.key is missing")
    alvo = identifier(key.get("id"), "data.key.id")
    edited = _content(data.get("editedMessage"))
    if key.get("fromMe") is True or edited is None:
        return None
    stamp = _stamp(data.get("timestampMs"))
    return Change(alvo, edited[0], identifier(f"{alvo}:editada:{stamp or 0}", "data.key.id"))


def read_removal(data: Any) -> Change | None:
    """`messages.delete`: `data` is the deleted message's key (a delete for everyone by the doctor), or,
    when julia deletes through the API, the stored record with that key under `key`; None for our own."""
    if not isinstance(data, dict):
        raise InvalidPayload("data must be an object")
    key: dict[str, Any] = data["key"] if isinstance(data.get("key"), dict) else data
    if key.get("fromMe") is True:
        return None
    alvo = identifier(key.get("id"), "data.id")
    return Change(alvo, None, identifier(f"{alvo}:apagada", "data.id"))


# Meta's errors that a later try may get past (its rate limits, its own outages, an expired token an operator
# renews); every other code (132001 unknown template, 132000 parameter count, 131030 number not allowed,
# 131026 undeliverable, 131047 re-engagement...) fails the same way again.
META_TRANSIENT = frozenset({4, 80007, 130429, 131000, 131016, 131048, 131056, 190})
# What each of Evolution's integration names means for julia (GET /instance/fetchInstances, `integration`).
INTEGRATIONS = {"WHATSAPP-BAILEYS": "baileys", "WHATSAPP-BUSINESS": "cloud-api"}

# `messages.update` statuses (docs/integrations.md): Baileys' receipts and the Cloud API's statuses,
# upper-cased by Evolution. SERVER_ACK / SENT say no more than sendText's 201 did; PENDING, DELETED and
# anything unknown are not a delivery outcome either: those are ignored without a statement.
STATE_OF_STATUS: dict[str, Literal["falhou", "entregue", "lida"]] = {
    "DELIVERY_ACK": "entregue",
    "DELIVERED": "entregue",
    "READ": "lida",
    "PLAYED": "lida",  # a voice note played was read too
    "ERROR": "falhou",
    "FAILED": "falhou",
}


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt of the message `whatsapp_id` (sendText's key.id)."""

    whatsapp_id: str
    estado: Literal["falhou", "entregue", "lida"]
    status: str  # as Evolution wrote it


def read_receipt(data: Any) -> Receipt | None:
    """`messages.update`: `data` is one receipt, `{"keyId", "remoteJid", "fromMe", "status", ...}` from both
    Baileys and the Cloud API; None for a status that is no delivery outcome."""
    if isinstance(data, list):  # tolerated, as for messages.upsert: a batch of one
        data = data[0] if len(data) == 1 else None
    if not isinstance(data, dict):
        raise InvalidPayload("data must be an object")
    status = data.get("status")
    estado = STATE_OF_STATUS.get(status) if isinstance(status, str) else None
    if estado is None or not isinstance(status, str):
        return None
    return Receipt(identifier(data.get("keyId"), "data.keyId"), estado, status)


class Evolution:
    """sendText and sendTemplate through one instance, on the process's shared httpx2 client."""

    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        settings.require("evolution_url", "evolution_api_key")
        assert settings.evolution_url is not None
        assert settings.evolution_api_key is not None
        self._base = settings.evolution_url.rstrip("/")
        instancia = settings.evolution_instance
        self._url = f"{self._base}/message/sendText/{instancia}"
        self._template_url = f"{self._base}/message/sendTemplate/{instancia}"
        self._instance_url = f"{self._base}/instance/fetchInstances"
        self._instance = instancia
        self._headers = {"apikey": settings.evolution_api_key.get_secret_value()}
        self._http = http
        # A reply arriving after this is lost to us, though the message may well have gone out.
        self._timeout_s = settings.evolution_timeout_s

    @metrics.timed("evolution_send_text")
    async def send_text(self, telefone: str, texto: str, *, delay_ms: int = 0) -> str | None:
        """Send `texto` to an E.164 number; the WhatsApp id of the sent message (None if Evolution omits it).
        `delay_ms`: Evolution shows 'typing...' that long first (its answer waits for it too).

        Raises EnvioIncerto when the outcome is unknown (see there): never retry it blindly. Otherwise
        Evolution did not send: a 400 is permanent (invalid body, or the number is not on WhatsApp) unless
        it says the connection is closed;
        everything else (a refused connection, 5xx, 429, 401/404 while an operator fixes the instance) is
        transient for the caller's backoff.
        """
        corpo: dict[str, Any] = {"number": telefone.lstrip("+"), "text": texto}
        if delay_ms:
            corpo["delay"] = delay_ms
        return await self._send(self._url, corpo, delay_ms / 1000.0)

    @metrics.timed("evolution_send_template")
    async def send_template(self, telefone: str, modelo: Template, values: Sequence[str]) -> str | None:
        """Send an approved template (the Cloud API's sendTemplate) with its body parameters in order; the
        WhatsApp id (`wamid...`). Errors as enviar_texto, plus Meta's refusal, which Evolution returns as
        the body of a 201 without `key` (docs/integrations.md): an IntegracaoError naming Meta's code,
        permanent unless the code is one of META_TRANSITORIOS."""
        corpo = {
            "number": telefone.lstrip("+"),
            "name": modelo.name,
            "language": modelo.language,
            "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}],
        }
        return await self._send(self._template_url, corpo, 0.0)

    async def _send(self, url: str, corpo: dict[str, Any], delay_s: float) -> str | None:
        try:
            resposta = await self._http.post(
                url, json=corpo, headers=self._headers, timeout=self._timeout_s + delay_s
            )
        except httpx2.HTTPError as exc:
            if nothing_left(exc):
                raise IntegrationError(
                    "evolution", f"{type(exc).__name__}: {exc}", transient_one=True
                ) from exc
            raise UncertainSend("evolution", f"{type(exc).__name__}: {exc}", transient_one=False) from exc
        if resposta.status_code in (200, 201):
            try:
                sent_one = resposta.json()
            except ValueError:
                return None
            if not isinstance(sent_one, dict):
                return None
            key = sent_one.get("key") or {}
            if isinstance(key, dict) and key.get("id"):
                return str(key["id"])
            if "code" in sent_one or "error_data" in sent_one:
                raise meta_refusal(sent_one)
            return None
        motivo = f"HTTP {resposta.status_code}: {resposta.text[:300]}"
        if resposta.status_code in _GATEWAY_WITHOUT_REPLY:
            raise UncertainSend("evolution", motivo, transient_one=False, status=resposta.status_code)
        permanent = resposta.status_code == 400 and not _CONNECTION_CLOSED.search(resposta.text)
        raise IntegrationError("evolution", motivo, transient_one=not permanent, status=resposta.status_code)

    async def integracao(self) -> str | None:
        """The instance's integration as julia names it (`baileys`, `cloud-api`), from
        GET /instance/fetchInstances; None when Evolution names another (its own `EVOLUTION` channel).
        IntegracaoError when it cannot be read."""
        try:
            resposta = await self._http.get(
                self._instance_url,
                params={"instanceName": self._instance},
                headers=self._headers,
                timeout=self._timeout_s,
            )
        except httpx2.HTTPError as exc:
            raise IntegrationError("evolution", f"{type(exc).__name__}: {exc}", transient_one=True) from exc
        if resposta.status_code != 200:
            motivo = f"fetchInstances: HTTP {resposta.status_code}: {resposta.text[:300]}"
            raise IntegrationError("evolution", motivo, transient_one=True, status=resposta.status_code)
        try:
            instances = resposta.json()
        except ValueError as exc:
            raise IntegrationError("evolution", "fetchInstances: not JSON", transient_one=True) from exc
        for instancia in instances if isinstance(instances, list) else []:
            if isinstance(instancia, dict) and instancia.get("name") == self._instance:
                return INTEGRATIONS.get(str(instancia.get("integration")))
        raise IntegrationError(
            "evolution", f"fetchInstances: no instance {self._instance!r}", transient_one=True
        )

    @metrics.timed("evolution_chatwoot_find")
    async def chatwoot_on(self) -> bool | None:
        """Whether the instance's own Chatwoot integration is on: `GET /chatwoot/find/{instance}` answers
        its settings (`enabled`; a `token` too, never logged); 400 "Chatwoot is disabled" when Evolution
        has Chatwoot off altogether (src/api/integrations/chatbot/chatwoot/controllers/
        chatwoot.controller.ts). None: Evolution did not say (unreachable, 5xx, 401, anything else)."""
        try:
            resposta = await self._http.get(
                f"{self._base}/chatwoot/find/{self._instance}", headers=self._headers, timeout=15.0
            )
        except httpx2.HTTPError:
            return None
        if resposta.status_code == 400 and "Chatwoot is disabled" in resposta.text:
            return False
        if resposta.status_code != 200:
            return None
        try:
            dados = resposta.json()
        except ValueError:
            return None
        return dados.get("enabled") is True if isinstance(dados, dict) else None


# Meta's "Re-engagement message": free text to a number that has not written in 24 hours.
OUTSIDE_24H_WINDOW = 131047


class MetaRefusal(IntegrationError):
    """Meta refused the message (a 201 without `key`, Meta's error as its body); `codigo` is Meta's."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(
            "evolution",
            f"Meta refused the message ({code}): {message}",
            transient_one=code in META_TRANSIENT,
        )
        self.code = code


def meta_refusal(corpo: dict[str, Any]) -> MetaRefusal:
    """Meta's error object, as Evolution passes it on, as the failed send it is."""
    message = str(corpo.get("message") or corpo.get("error_data") or "no message")[:300]
    return MetaRefusal(corpo.get("code"), message)
