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
from julia.integrations import IntegracaoError
from julia.integrations.http import nada_saiu
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
_CONEXAO_FECHADA = re.compile(r"Connection Closed", re.IGNORECASE)

# The request may have reached Evolution and been acted on: a proxy gave up waiting for it (504) or could
# not read its answer (502).
_GATEWAY_SEM_RESPOSTA = frozenset({502, 504})


class EnvioIncerto(IntegracaoError):
    """sendText ended without telling whether the message went out (a timeout after the request left, a
    dropped connection, a gateway without Evolution's answer). Sending again could deliver it twice."""


class PayloadInvalido(JuliaError):
    """The webhook body lacks a field julia needs; the message says which (returned as the 4xx reason,
    `status`: 422 for a missing field, 400 for a field whose value cannot be an id)."""

    status = 422


class IdentificadorInvalido(PayloadInvalido):
    """An id-like field (message id, JID, instance, state) holds NUL, a lone surrogate or is too long:
    no WhatsApp id does, and Postgres could not store or match it."""

    status = 400


def texto_limpo(texto: str) -> str:
    """The doctor's text as Postgres can store it: U+0000 dropped (invisible, and refused by Postgres's
    text type), a lone UTF-16 surrogate (half of a broken emoji; unencodable in UTF-8) replaced by U+FFFD.
    The message is kept: refusing it would make Evolution drop it for good after its retries."""
    return _LONE_SURROGATE.sub("\ufffd", texto.replace("\x00", ""))


def identificador(valor: object, campo: str) -> str:
    """An id-like string field, refused (400) rather than repaired: a changed id would match nothing."""
    if not isinstance(valor, str) or not valor:
        raise PayloadInvalido(f"{campo} is missing")
    if len(valor) > MAX_ID or "\x00" in valor or _LONE_SURROGATE.search(valor):
        raise IdentificadorInvalido(f"{campo} is not a valid id")
    return valor


# How the worker answers a stored message (migrations/0012_entradas_tratamento.sql says each).
Tratamento = Literal["responder", "pedir_texto", "desculpar", "registrar", "passar"]


@dataclass(frozen=True)
class Reacao:
    emoji: str
    alvo: str | None  # the WhatsApp id of the message reacted to (julia's sendText key.id when it is hers)


@dataclass(frozen=True)
class MensagemRecebida:
    whatsapp_id: str
    telefone: str | None  # E.164; None: an `@lid` sender Evolution sent without remoteJidAlt
    jid: str
    texto: str  # what is stored and what Claude reads: media and choices described in brackets
    nome: str | None
    tratamento: Tratamento = "responder"
    enviada_em: int | None = None  # messageTimestamp (unix seconds); None when absent or unreadable
    reacao: Reacao | None = None  # `texto` then names no message yet: descrever_reacao completes it
    escrito: str = ""  # the doctor's own words in it, without the quote (what the stop words are read in)


@dataclass(frozen=True)
class Alteracao:
    """A doctor edited (`texto`: the new text) or deleted (`texto` None) the message `alvo` (its WhatsApp
    id); `whatsapp_id` names this event itself, so a redelivery stores nothing new."""

    alvo: str
    texto: str | None
    whatsapp_id: str


def telefone_e164(jid: str) -> str:
    """`5511999990000@s.whatsapp.net` -> `+5511999990000`.

    Brazilian mobiles registered on WhatsApp before the ninth digit arrive without it (55 + DDD + 8
    digits starting 6-9); the doctor's record has it, so it is put back or the lookup would miss them.
    """
    digitos = jid.split("@", 1)[0].split(":", 1)[0]
    # Never echo the JID: the reason goes back in the 4xx body and must be plain, short and valid text.
    if not (digitos.isascii() and digitos.isdigit()):
        raise PayloadInvalido("remoteJid carries no phone number")
    if digitos.startswith("55") and len(digitos) == 12 and digitos[4] in "6789":
        digitos = digitos[:4] + "9" + digitos[4:]
    telefone = "+" + digitos
    if not _E164.match(telefone):
        raise PayloadInvalido("remoteJid is not an E.164 number")
    return telefone


# Wrappers Evolution does not unwrap (docs/integrations.md): the content is at <wrapper>.message.<type>.
_EMBRULHOS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)
# Media with an optional caption: how the message is named to Claude and in the history.
_MIDIA = {
    "imageMessage": "imagem",
    "videoMessage": "vídeo",
    "ptvMessage": "vídeo",
    "documentMessage": "documento",
}
CITACAO_MAX = 300  # of a quoted message, in characters: enough to say which offer, never a whole essay


def _str(valor: object) -> str | None:
    """A non-blank string field, repaired for Postgres (texto_limpo); None otherwise."""
    return limpo if isinstance(valor, str) and (limpo := texto_limpo(valor)).strip() else None


def _desembrulhar(mensagem: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):  # wrappers nest at most twice (ephemeral around view-once)
        for nome in _EMBRULHOS:
            dentro = mensagem.get(nome)
            if isinstance(dentro, dict) and isinstance(dentro.get("message"), dict):
                mensagem = dentro["message"]
                break
        else:
            return mensagem
    return mensagem


def _conteudo(mensagem: Any) -> tuple[str, Tratamento] | None:
    """What a person wrote or sent, as text, and how to answer it; None for what is no person's message
    (protocol and key-distribution messages, types julia does not know)."""
    if not isinstance(mensagem, dict):
        return None
    mensagem = _desembrulhar(mensagem)
    estendida = mensagem.get("extendedTextMessage")
    if texto := _str(mensagem.get("conversation")) or _str(
        estendida.get("text") if isinstance(estendida, dict) else None
    ):
        return texto, "responder"
    # Evolution's own speech-to-text, when its OpenAI integration is on: "[audio] <transcript>".
    if transcricao := _str(mensagem.get("speechToText")):
        return "[mensagem de voz, transcrita] " + transcricao.removeprefix("[audio]").strip(), "responder"
    for tipo, valor in mensagem.items():
        if not isinstance(valor, dict):
            continue
        if tipo == "audioMessage":
            return ("[mensagem de voz]" if valor.get("ptt") is True else "[áudio]"), "pedir_texto"
        if tipo in _MIDIA:
            rotulo = _MIDIA[tipo]
            if legenda := _str(valor.get("caption")):
                return f"[{rotulo} com a legenda:] {legenda}", "responder"
            arquivo = _str(valor.get("fileName"))
            return (f"[{rotulo}: {arquivo}]" if arquivo else f"[{rotulo}]"), "pedir_texto"
        if escolha := _escolha(tipo, valor):
            return escolha, "responder"
        if tipo == "stickerMessage":  # a sticker is a nod, like an emoji: stored, not answered
            return "[figurinha]", "registrar"
        if tipo in ("locationMessage", "liveLocationMessage"):
            return "[localização]", "pedir_texto"
        if tipo in ("contactMessage", "contactsArrayMessage"):
            nome = _str(valor.get("displayName"))
            return (f"[contato: {nome}]" if nome else "[contato]"), "pedir_texto"
    return None


# A caption or a transcript is the person's own words behind julia's label: the stop words are read there too
# ("PARAR" written on a photo opts out like a text does).
_ROTULO_DE_PALAVRAS = re.compile(r"^\[[^\]]*(?:legenda|transcrita)[^\]]*\] ")


def _escolha(tipo: str, valor: dict[str, Any]) -> str | None:
    """The text of a button or list choice (the proto fields, docs/integrations.md)."""
    if tipo in ("buttonsResponseMessage", "templateButtonReplyMessage"):
        return _str(valor.get("selectedDisplayText"))
    if tipo == "listResponseMessage":
        linha = valor.get("singleSelectReply")
        return _str(valor.get("title")) or _str(
            linha.get("selectedRowId") if isinstance(linha, dict) else None
        )
    if tipo == "interactiveResponseMessage":
        corpo = valor.get("body")
        return _str(corpo.get("text") if isinstance(corpo, dict) else None)
    return None


def _citacao(data: dict[str, Any]) -> str | None:
    """The text of the message this one quotes (a reply to Júlia's offer), cut at CITACAO_MAX. Evolution
    copies the content's contextInfo to the top level; older versions leave it inside the content."""
    contextos = [data.get("contextInfo")]
    mensagem = data.get("message")
    if isinstance(mensagem, dict):
        contextos += [v.get("contextInfo") for v in _desembrulhar(mensagem).values() if isinstance(v, dict)]
    for contexto in contextos:
        if isinstance(contexto, dict) and (citada := _conteudo(contexto.get("quotedMessage"))):
            texto = citada[0]
            return texto if len(texto) <= CITACAO_MAX else texto[:CITACAO_MAX] + "…"
    return None


def _reacao(mensagem: Any) -> Reacao | None:
    reacao = mensagem.get("reactionMessage") if isinstance(mensagem, dict) else None
    if not isinstance(reacao, dict):
        return None
    emoji = _str(reacao.get("text"))
    if emoji is None:  # text "" is a reaction taken back: nothing to store
        return None
    chave = reacao.get("key")
    try:
        alvo: str | None = identificador(chave.get("id") if isinstance(chave, dict) else None, "id")
    except PayloadInvalido:  # the reaction stands; which message it is about stays unknown
        alvo = None
    return Reacao(emoji, alvo)


def descrever_reacao(reacao: Reacao, citada: str | None) -> str:
    """A reaction as Claude reads it: what the doctor reacted with, to which message."""
    if citada is None:
        return f"[reagiu com {reacao.emoji} a uma mensagem anterior]"
    trecho = citada if len(citada) <= CITACAO_MAX else citada[:CITACAO_MAX] + "…"
    return f'[reagiu com {reacao.emoji} à mensagem: "{trecho}"]'


def descrever_alteracao(alteracao: Alteracao, original: str) -> str:
    """An edit or a delete as Claude and the history read it, quoting the message it changed."""
    trecho = original if len(original) <= CITACAO_MAX else original[:CITACAO_MAX] + "…"
    if alteracao.texto is None:
        return f'[apagou a mensagem: "{trecho}"]'
    return f'[editou a mensagem "{trecho}" para:] {alteracao.texto}'


def _carimbo(valor: object) -> int | None:
    """messageTimestamp: unix seconds, a number (also tolerated: a digit string, a protobuf Long)."""
    if isinstance(valor, dict):  # {"low": ..., "high": ..., "unsigned": ...}
        baixo, alto = valor.get("low"), valor.get("high")
        if isinstance(baixo, int) and isinstance(alto, int):
            return (alto << 32) | (baixo & 0xFFFFFFFF)
        return None
    if isinstance(valor, str) and valor.isascii() and valor.isdigit():
        return int(valor)
    if isinstance(valor, int) and not isinstance(valor, bool):
        return valor
    if isinstance(valor, float) and math.isfinite(valor):  # json.loads also takes NaN and Infinity
        return int(valor)
    return None


def ler_mensagem(data: Any) -> MensagemRecebida | None:
    """A `messages.upsert` data object -> the message to store, or None when julia must ignore it (its
    own message, a group, a status post, a reaction taken back, a protocol message). Raises
    PayloadInvalido when fields are missing."""
    if not isinstance(data, dict):
        raise PayloadInvalido("data must be an object")
    key = data.get("key")
    if not isinstance(key, dict):
        raise PayloadInvalido("data.key is missing")
    jid = identificador(key.get("remoteJid"), "data.key.remoteJid")
    whatsapp_id = identificador(key.get("id"), "data.key.id")
    if key.get("fromMe") is True or jid.endswith("@g.us") or jid == "status@broadcast":
        return None
    telefone: str | None = None
    if jid.endswith("@lid"):
        # addressingMode "lid": the phone number travels in remoteJidAlt, when Evolution has it.
        if key.get("remoteJidAlt") is not None:
            jid = identificador(key.get("remoteJidAlt"), "data.key.remoteJidAlt")
            telefone = telefone_e164(jid)
    else:
        telefone = telefone_e164(jid)
    mensagem = data.get("message")
    reacao = _reacao(mensagem)
    conteudo: tuple[str, Tratamento] | None = (
        (descrever_reacao(reacao, None), "responder") if reacao else _conteudo(mensagem)
    )
    if conteudo is None:
        return None
    escrito, tratamento = conteudo
    texto = f'[em resposta a: "{citada}"] {escrito}' if (citada := _citacao(data)) else escrito
    nome = data.get("pushName")
    return MensagemRecebida(
        whatsapp_id,
        telefone,
        jid,
        texto,
        texto_limpo(nome) if isinstance(nome, str) else None,
        tratamento,
        _carimbo(data.get("messageTimestamp")),
        reacao,
        _ROTULO_DE_PALAVRAS.sub("", escrito, count=1),
    )


def ler_edicao(data: Any) -> Alteracao | None:
    """`messages.edited`: `data` is WhatsApp's protocolMessage (docs/integrations.md). It fires for every
    protocol message: only a MESSAGE_EDIT (14) of the doctor's own message is one; None otherwise."""
    if not isinstance(data, dict) or data.get("type") not in ("MESSAGE_EDIT", 14):
        return None
    key = data.get("key")
    if not isinstance(key, dict):
        raise PayloadInvalido("data.key is missing")
    alvo = identificador(key.get("id"), "data.key.id")
    editada = _conteudo(data.get("editedMessage"))
    if key.get("fromMe") is True or editada is None:
        return None
    carimbo = _carimbo(data.get("timestampMs"))
    return Alteracao(alvo, editada[0], identificador(f"{alvo}:editada:{carimbo or 0}", "data.key.id"))


def ler_remocao(data: Any) -> Alteracao | None:
    """`messages.delete`: `data` is the deleted message's key (a delete for everyone by the doctor), or,
    when julia deletes through the API, the stored record with that key under `key`; None for our own."""
    if not isinstance(data, dict):
        raise PayloadInvalido("data must be an object")
    key: dict[str, Any] = data["key"] if isinstance(data.get("key"), dict) else data
    if key.get("fromMe") is True:
        return None
    alvo = identificador(key.get("id"), "data.id")
    return Alteracao(alvo, None, identificador(f"{alvo}:apagada", "data.id"))


# Meta's errors that a later try may get past (its rate limits, its own outages, an expired token an operator
# renews); every other code (132001 unknown template, 132000 parameter count, 131030 number not allowed,
# 131026 undeliverable, 131047 re-engagement...) fails the same way again.
META_TRANSITORIOS = frozenset({4, 80007, 130429, 131000, 131016, 131048, 131056, 190})
# What each of Evolution's integration names means for julia (GET /instance/fetchInstances, `integration`).
INTEGRACOES = {"WHATSAPP-BAILEYS": "baileys", "WHATSAPP-BUSINESS": "cloud-api"}

# `messages.update` statuses (docs/integrations.md): Baileys' receipts and the Cloud API's statuses,
# upper-cased by Evolution. SERVER_ACK / SENT say no more than sendText's 201 did; PENDING, DELETED and
# anything unknown are not a delivery outcome either: those are ignored without a statement.
ESTADO_DO_STATUS: dict[str, Literal["falhou", "entregue", "lida"]] = {
    "DELIVERY_ACK": "entregue",
    "DELIVERED": "entregue",
    "READ": "lida",
    "PLAYED": "lida",  # a voice note played was read too
    "ERROR": "falhou",
    "FAILED": "falhou",
}


@dataclass(frozen=True)
class Recibo:
    """A delivery receipt of the message `whatsapp_id` (sendText's key.id)."""

    whatsapp_id: str
    estado: Literal["falhou", "entregue", "lida"]
    status: str  # as Evolution wrote it


def ler_recibo(data: Any) -> Recibo | None:
    """`messages.update`: `data` is one receipt, `{"keyId", "remoteJid", "fromMe", "status", ...}` from both
    Baileys and the Cloud API; None for a status that is no delivery outcome."""
    if isinstance(data, list):  # tolerated, as for messages.upsert: a batch of one
        data = data[0] if len(data) == 1 else None
    if not isinstance(data, dict):
        raise PayloadInvalido("data must be an object")
    status = data.get("status")
    estado = ESTADO_DO_STATUS.get(status) if isinstance(status, str) else None
    if estado is None or not isinstance(status, str):
        return None
    return Recibo(identificador(data.get("keyId"), "data.keyId"), estado, status)


class Evolution:
    """sendText and sendTemplate through one instance, on the process's shared httpx2 client."""

    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        settings.require("evolution_url", "evolution_api_key")
        assert settings.evolution_url is not None
        assert settings.evolution_api_key is not None
        self._base = settings.evolution_url.rstrip("/")
        instancia = settings.evolution_instance
        self._url = f"{self._base}/message/sendText/{instancia}"
        self._url_modelo = f"{self._base}/message/sendTemplate/{instancia}"
        self._url_instancia = f"{self._base}/instance/fetchInstances"
        self._instancia = instancia
        self._headers = {"apikey": settings.evolution_api_key.get_secret_value()}
        self._http = http
        # A reply arriving after this is lost to us, though the message may well have gone out.
        self._timeout_s = settings.evolution_timeout_s

    @metrics.timed("evolution_send_text")
    async def enviar_texto(self, telefone: str, texto: str, *, delay_ms: int = 0) -> str | None:
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
        return await self._enviar(self._url, corpo, delay_ms / 1000.0)

    @metrics.timed("evolution_send_template")
    async def enviar_modelo(self, telefone: str, modelo: Template, valores: Sequence[str]) -> str | None:
        """Send an approved template (the Cloud API's sendTemplate) with its body parameters in order; the
        WhatsApp id (`wamid...`). Errors as enviar_texto, plus Meta's refusal, which Evolution returns as
        the body of a 201 without `key` (docs/integrations.md): an IntegracaoError naming Meta's code,
        permanent unless the code is one of META_TRANSITORIOS."""
        corpo = {
            "number": telefone.lstrip("+"),
            "name": modelo.name,
            "language": modelo.language,
            "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in valores]}],
        }
        return await self._enviar(self._url_modelo, corpo, 0.0)

    async def _enviar(self, url: str, corpo: dict[str, Any], delay_s: float) -> str | None:
        try:
            resposta = await self._http.post(
                url, json=corpo, headers=self._headers, timeout=self._timeout_s + delay_s
            )
        except httpx2.HTTPError as exc:
            if nada_saiu(exc):
                raise IntegracaoError("evolution", f"{type(exc).__name__}: {exc}", transitorio=True) from exc
            raise EnvioIncerto("evolution", f"{type(exc).__name__}: {exc}", transitorio=False) from exc
        if resposta.status_code in (200, 201):
            try:
                enviada = resposta.json()
            except ValueError:
                return None
            if not isinstance(enviada, dict):
                return None
            chave = enviada.get("key") or {}
            if isinstance(chave, dict) and chave.get("id"):
                return str(chave["id"])
            if "code" in enviada or "error_data" in enviada:
                raise recusa_da_meta(enviada)
            return None
        motivo = f"HTTP {resposta.status_code}: {resposta.text[:300]}"
        if resposta.status_code in _GATEWAY_SEM_RESPOSTA:
            raise EnvioIncerto("evolution", motivo, transitorio=False, status=resposta.status_code)
        permanente = resposta.status_code == 400 and not _CONEXAO_FECHADA.search(resposta.text)
        raise IntegracaoError("evolution", motivo, transitorio=not permanente, status=resposta.status_code)

    async def integracao(self) -> str | None:
        """The instance's integration as julia names it (`baileys`, `cloud-api`), from
        GET /instance/fetchInstances; None when Evolution names another (its own `EVOLUTION` channel).
        IntegracaoError when it cannot be read."""
        try:
            resposta = await self._http.get(
                self._url_instancia,
                params={"instanceName": self._instancia},
                headers=self._headers,
                timeout=self._timeout_s,
            )
        except httpx2.HTTPError as exc:
            raise IntegracaoError("evolution", f"{type(exc).__name__}: {exc}", transitorio=True) from exc
        if resposta.status_code != 200:
            motivo = f"fetchInstances: HTTP {resposta.status_code}: {resposta.text[:300]}"
            raise IntegracaoError("evolution", motivo, transitorio=True, status=resposta.status_code)
        try:
            instancias = resposta.json()
        except ValueError as exc:
            raise IntegracaoError("evolution", "fetchInstances: not JSON", transitorio=True) from exc
        for instancia in instancias if isinstance(instancias, list) else []:
            if isinstance(instancia, dict) and instancia.get("name") == self._instancia:
                return INTEGRACOES.get(str(instancia.get("integration")))
        raise IntegracaoError(
            "evolution", f"fetchInstances: no instance {self._instancia!r}", transitorio=True
        )

    @metrics.timed("evolution_chatwoot_find")
    async def chatwoot_ligado(self) -> bool | None:
        """Whether the instance's own Chatwoot integration is on: `GET /chatwoot/find/{instance}` answers
        its settings (`enabled`; a `token` too, never logged); 400 "Chatwoot is disabled" when Evolution
        has Chatwoot off altogether (src/api/integrations/chatbot/chatwoot/controllers/
        chatwoot.controller.ts). None: Evolution did not say (unreachable, 5xx, 401, anything else)."""
        try:
            resposta = await self._http.get(
                f"{self._base}/chatwoot/find/{self._instancia}", headers=self._headers, timeout=15.0
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
FORA_DA_JANELA_24H = 131047


class RecusaDaMeta(IntegracaoError):
    """Meta refused the message (a 201 without `key`, Meta's error as its body); `codigo` is Meta's."""

    def __init__(self, codigo: object, mensagem: str) -> None:
        super().__init__(
            "evolution",
            f"Meta refused the message ({codigo}): {mensagem}",
            transitorio=codigo in META_TRANSITORIOS,
        )
        self.codigo = codigo


def recusa_da_meta(corpo: dict[str, Any]) -> RecusaDaMeta:
    """Meta's error object, as Evolution passes it on, as the failed send it is."""
    mensagem = str(corpo.get("message") or corpo.get("error_data") or "no message")[:300]
    return RecusaDaMeta(corpo.get("code"), mensagem)
