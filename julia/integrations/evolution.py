"""Evolution API v2: reading its webhooks and sending text (wire format in docs/integrations.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx2

from julia.errors import JuliaError
from julia.integrations import IntegracaoError
from julia.integrations.http import nada_saiu
from julia.metrics import metrics
from julia.settings import Settings

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


# WhatsApp ids are ~20-40 characters: a longer one is not WhatsApp's (and would strain the unique index).
MAX_ID = 128
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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


@dataclass(frozen=True)
class MensagemRecebida:
    whatsapp_id: str
    telefone: str  # E.164
    texto: str
    nome: str | None


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


def _texto(mensagem: Any) -> str | None:
    if not isinstance(mensagem, dict):
        return None
    estendida = mensagem.get("extendedTextMessage")
    for candidato in (
        mensagem.get("conversation"),
        estendida.get("text") if isinstance(estendida, dict) else None,
    ):
        if isinstance(candidato, str) and (limpo := texto_limpo(candidato)).strip():
            return limpo
    return None


def ler_mensagem(data: Any) -> MensagemRecebida | None:
    """A `messages.upsert` data object -> the message to answer, or None when julia must ignore it
    (its own message, a group, a status post, no text). Raises PayloadInvalido when fields are missing."""
    if not isinstance(data, dict):
        raise PayloadInvalido("data must be an object")
    key = data.get("key")
    if not isinstance(key, dict):
        raise PayloadInvalido("data.key is missing")
    jid = identificador(key.get("remoteJid"), "data.key.remoteJid")
    whatsapp_id = identificador(key.get("id"), "data.key.id")
    if key.get("fromMe") is True or jid.endswith("@g.us") or jid == "status@broadcast":
        return None
    if jid.endswith("@lid"):
        # addressingMode "lid": the phone number travels in remoteJidAlt.
        jid = identificador(key.get("remoteJidAlt"), "data.key.remoteJidAlt")
    texto = _texto(data.get("message"))
    if texto is None:
        return None
    nome = data.get("pushName")
    return MensagemRecebida(
        whatsapp_id, telefone_e164(jid), texto, texto_limpo(nome) if isinstance(nome, str) else None
    )


class Evolution:
    """sendText through one instance, on the process's shared httpx2 client."""

    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        settings.require("evolution_url", "evolution_api_key")
        assert settings.evolution_url is not None
        assert settings.evolution_api_key is not None
        self._url = f"{settings.evolution_url.rstrip('/')}/message/sendText/{settings.evolution_instance}"
        self._headers = {"apikey": settings.evolution_api_key.get_secret_value()}
        self._http = http
        # A reply arriving after this is lost to us, though the message may well have gone out.
        self._timeout_s = settings.evolution_timeout_s

    @metrics.timed("evolution_send_text")
    async def enviar_texto(self, telefone: str, texto: str) -> str | None:
        """Send `texto` to an E.164 number; the WhatsApp id of the sent message (None if Evolution omits it).

        Raises EnvioIncerto when the outcome is unknown (see there): never retry it blindly. Otherwise
        Evolution did not send: a 400 is permanent (invalid body, or the number is not on WhatsApp);
        everything else (a refused connection, 5xx, 429, 401/404 while an operator fixes the instance) is
        transient for the caller's backoff.
        """
        corpo = {"number": telefone.lstrip("+"), "text": texto}
        try:
            resposta = await self._http.post(
                self._url, json=corpo, headers=self._headers, timeout=self._timeout_s
            )
        except httpx2.HTTPError as exc:
            if nada_saiu(exc):
                raise IntegracaoError("evolution", f"{type(exc).__name__}: {exc}", transitorio=True) from exc
            raise EnvioIncerto("evolution", f"{type(exc).__name__}: {exc}", transitorio=False) from exc
        if resposta.status_code in (200, 201):
            try:
                chave = resposta.json().get("key") or {}
            except ValueError:
                return None
            return str(chave["id"]) if isinstance(chave, dict) and chave.get("id") else None
        motivo = f"HTTP {resposta.status_code}: {resposta.text[:300]}"
        if resposta.status_code in _GATEWAY_SEM_RESPOSTA:
            raise EnvioIncerto("evolution", motivo, transitorio=False, status=resposta.status_code)
        raise IntegracaoError(
            "evolution", motivo, transitorio=resposta.status_code != 400, status=resposta.status_code
        )
