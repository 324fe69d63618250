"""Chatwoot REST: the doctor's contact and conversation, mirrored messages, labels, the inbox; and
reading the `message_created` webhook (an agent's reply to relay to WhatsApp).

Auth header `api_access_token`. Contacts and conversations are created on a doctor's first mirrored
message; julia stores their ids (clientes.chatwoot_contact_id, conversations.chatwoot_conversation_id).

Every message julia posts carries `source_id` "julia:<random>" (MARCA_JULIA). Chatwoot stores it in the
message's own column and echoes it in `message_created`, which fires for julia's own posts too: the mark
is how the webhook tells Júlia's messages (never relayed) from an agent's. It holds because julia's inbox
is an API channel (checked at start-up, julia/services/topology.py): channel code rewrites a message's
source_id only where it delivers it itself (WhatsApp Cloud, Twilio...), and an API channel delivers
nothing. It travels in the webhook that announces the message, so it cannot race julia's own record of the
post (Chatwoot fires the webhook after its commit, maybe before julia's POST has its answer) nor be lost
with a POST that timed out after Chatwoot created the message. Evolution's own Chatwoot integration tells
its posts from agents' the same way (`WAID:` source_ids).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

import httpx2

from julia.integrations import IntegrationError
from julia.integrations.evolution import clean_text
from julia.metrics import metrics
from julia.settings import Settings

HUMAN_LABEL = "humano"
JULIA_MARK = "julia:"
CANAL_API = "Channel::Api"


@dataclass(frozen=True)
class AgentMessage:
    """An agent's reply written in Chatwoot, to go to the doctor on WhatsApp."""

    id: int  # the Chatwoot message id: a redelivered webhook carries the same one
    conversa_chatwoot: int  # the conversation's id as the REST API and julia's records use it
    texto: str  # empty when the agent sent only attachments
    agent: str  # the agent's name, for the logs
    attachments: int = 0  # attachments, which julia does not send (only the text goes)


def agent_message(corpo: dict[str, Any], inbox_id: int | None) -> AgentMessage | None:
    """The agent's reply `corpo` (a `message_created` webhook) carries, or None: everything else Chatwoot
    announces is never sent to a doctor. A reply is outgoing, not a private note (a missing `private` is
    not taken for false), written by a person (`sender.type` "user"; an agent bot's or an automation's
    message is not a person's), in julia's inbox, with text or attachments, and without julia's mark
    (MARCA_JULIA)."""
    if corpo.get("event") != "message_created" or corpo.get("message_type") != "outgoing":
        return None
    if corpo.get("private") is not False:
        return None
    sender, conversa, inbox = corpo.get("sender"), corpo.get("conversation"), corpo.get("inbox")
    if not isinstance(sender, dict) or sender.get("type") != "user":
        return None
    if str(corpo.get("source_id") or "").startswith(JULIA_MARK):
        return None
    if not isinstance(inbox, dict) or inbox.get("id") != inbox_id:
        return None
    conteudo, listing = corpo.get("content"), corpo.get("attachments")  # attachments: only when some
    texto = clean_text(conteudo) if isinstance(conteudo, str) and conteudo.strip() else ""
    attachments = len(listing) if isinstance(listing, list) else 0
    message_id, conversa_id = corpo.get("id"), conversa.get("id") if isinstance(conversa, dict) else None
    if not _id(message_id) or not _id(conversa_id) or not (texto or attachments):
        return None
    return AgentMessage(
        message_id, conversa_id, texto, str(sender.get("name") or sender.get("id")), attachments
    )


def _id(valor: object) -> TypeGuard[int]:
    """A Chatwoot id Postgres can hold (bigint; a JSON `true` is no id, though Python takes it for 1)."""
    return type(valor) is int and 0 < valor < 2**63


def mark() -> str:
    """A fresh source_id for a message julia posts (random: the mark is the prefix, the rest only keeps
    Chatwoot's index on source_id selective)."""
    return JULIA_MARK + secrets.token_hex(8)


class Chatwoot:
    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        assert settings.chatwoot_url is not None  # Chatwoot.configurado() was checked by the caller
        assert settings.chatwoot_api_token is not None
        self._base = f"{settings.chatwoot_url.rstrip('/')}/api/v1/accounts/{settings.chatwoot_account_id}"
        self._inbox = settings.chatwoot_inbox_id
        self._headers = {"api_access_token": settings.chatwoot_api_token.get_secret_value()}
        self._http = http
        self._timeout_s = settings.chatwoot_timeout_s

    @staticmethod
    def configured(settings: Settings) -> bool:
        return all(
            (
                settings.chatwoot_url,
                settings.chatwoot_api_token,
                settings.chatwoot_account_id,
                settings.chatwoot_inbox_id,
            )
        )

    async def _call(self, method: str, caminho: str, **kwargs: Any) -> Any:
        try:
            resposta = await self._http.request(
                method, self._base + caminho, headers=self._headers, timeout=self._timeout_s, **kwargs
            )
        except httpx2.HTTPError as exc:
            raise IntegrationError("chatwoot", f"{type(exc).__name__}: {exc}", transient_one=True) from exc
        if resposta.status_code >= 300:
            raise IntegrationError(
                "chatwoot",
                f"{method} {caminho}: HTTP {resposta.status_code}: {resposta.text[:300]}",
                transient_one=resposta.status_code >= 500 or resposta.status_code == 429,
                status=resposta.status_code,
            )
        if not resposta.content:  # DELETE answers `head :ok`
            return None
        try:
            return resposta.json()
        except ValueError as exc:
            raise IntegrationError("chatwoot", f"{method} {caminho}: not JSON", transient_one=True) from exc

    @metrics.timed("chatwoot_criar_contato")
    async def create_contact(self, telefone: str, nome: str | None) -> tuple[int, str | None]:
        """(contact id, the contact_inbox source_id when Chatwoot returns one). A phone already taken
        (422) is looked up instead: the contact was created by an earlier, interrupted attempt."""
        corpo = {"inbox_id": self._inbox, "name": nome or telefone, "phone_number": telefone}
        try:
            dados = await self._call("POST", "/contacts", json=corpo)
        except IntegrationError as exc:
            if exc.status != 422:
                raise
            return await self._find_contact(telefone), None
        payload = dados.get("payload", dados) if isinstance(dados, dict) else {}
        contato = payload.get("contact", payload) if isinstance(payload, dict) else {}
        inbox = payload.get("contact_inbox") if isinstance(payload, dict) else None
        source = inbox.get("source_id") if isinstance(inbox, dict) else None
        return int(contato["id"]), str(source) if source else None

    async def _find_contact(self, telefone: str) -> int:
        dados = await self._call("GET", "/contacts/search", params={"q": telefone})
        for contato in dados.get("payload", []) if isinstance(dados, dict) else []:
            if isinstance(contato, dict) and contato.get("phone_number") == telefone:
                return int(contato["id"])
        raise IntegrationError(
            "chatwoot", f"contact {telefone} exists but search misses it", transient_one=True
        )

    @metrics.timed("chatwoot_criar_conversa")
    async def create_conversa(self, contact_id: int, source_id: str | None, telefone: str) -> int:
        corpo = {
            "source_id": source_id or telefone.lstrip("+"),
            "inbox_id": self._inbox,
            "contact_id": contact_id,
        }
        dados = await self._call("POST", "/conversations", json=corpo)
        return int(dados["id"])

    @metrics.timed("chatwoot_enviar_mensagem")
    async def send_message(self, conversa_id: int, texto: str, kind: Literal["incoming", "outgoing"]) -> None:
        corpo = {"content": texto, "message_type": kind, "private": False, "source_id": mark()}
        await self._call("POST", f"/conversations/{conversa_id}/messages", json=corpo)

    @metrics.timed("chatwoot_nota_privada")
    async def private_note(self, conversa_id: int, texto: str) -> None:
        """A note only the agents see in the conversation (a reservation Júlia made, say)."""
        corpo = {"content": texto, "message_type": "outgoing", "private": True, "source_id": mark()}
        await self._call("POST", f"/conversations/{conversa_id}/messages", json=corpo)

    @metrics.timed("chatwoot_ler_inbox")
    async def read_inbox(self) -> dict[str, Any]:
        """CHATWOOT_INBOX_ID as Chatwoot describes it: `channel_type`, and for an API channel its
        `webhook_url` (app/views/api/v1/models/_inbox.json.jbuilder)."""
        dados = await self._call("GET", f"/inboxes/{self._inbox}")
        if not isinstance(dados, dict):
            raise IntegrationError("chatwoot", f"inbox {self._inbox}: not a JSON object", transient_one=True)
        return dados

    @metrics.timed("chatwoot_adicionar_rotulo")
    async def add_label(self, conversa_id: int, label: str = HUMAN_LABEL) -> None:
        """POST .../labels replaces the list: read, merge, write."""
        caminho = f"/conversations/{conversa_id}/labels"
        current_ones = (await self._call("GET", caminho)).get("payload", [])
        if label not in current_ones:
            await self._call("POST", caminho, json={"labels": [*current_ones, label]})

    @metrics.timed("chatwoot_apagar_contato")
    async def delete_contact(self, contact_id: int) -> None:
        """LGPD erasure: the contact, and with it (Chatwoot's `has_many :conversations, dependent:
        :destroy`) its conversations and messages. A contact already gone (404) is done; Chatwoot refuses
        (422) a contact online in a live chat widget, which a WhatsApp contact never is."""
        try:
            await self._call("DELETE", f"/contacts/{contact_id}")
        except IntegrationError as exc:
            if exc.status != 404:
                raise
