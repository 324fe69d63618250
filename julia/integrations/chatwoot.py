"""Chatwoot REST: the doctor's contact and conversation, mirrored messages, labels.

Auth header `api_access_token`. Contacts and conversations are created on a doctor's first mirrored
message; julia stores their ids (clientes.chatwoot_contact_id, conversations.chatwoot_conversation_id).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx2

from julia.integrations import IntegracaoError
from julia.metrics import metrics
from julia.settings import Settings

ROTULO_HUMANO = "humano"


class Chatwoot:
    def __init__(self, settings: Settings, http: httpx2.AsyncClient) -> None:
        assert settings.chatwoot_url is not None  # Chatwoot.configurado() was checked by the caller
        assert settings.chatwoot_api_token is not None
        self._base = f"{settings.chatwoot_url.rstrip('/')}/api/v1/accounts/{settings.chatwoot_account_id}"
        self._inbox = settings.chatwoot_inbox_id
        self._headers = {"api_access_token": settings.chatwoot_api_token.get_secret_value()}
        self._http = http

    @staticmethod
    def configurado(settings: Settings) -> bool:
        return all(
            (
                settings.chatwoot_url,
                settings.chatwoot_api_token,
                settings.chatwoot_account_id,
                settings.chatwoot_inbox_id,
            )
        )

    async def _chamar(self, metodo: str, caminho: str, **kwargs: Any) -> Any:
        try:
            resposta = await self._http.request(
                metodo, self._base + caminho, headers=self._headers, timeout=15.0, **kwargs
            )
        except httpx2.HTTPError as exc:
            raise IntegracaoError("chatwoot", f"{type(exc).__name__}: {exc}", transitorio=True) from exc
        if resposta.status_code >= 300:
            raise IntegracaoError(
                "chatwoot",
                f"{metodo} {caminho}: HTTP {resposta.status_code}: {resposta.text[:300]}",
                transitorio=resposta.status_code >= 500 or resposta.status_code == 429,
                status=resposta.status_code,
            )
        if not resposta.content:  # DELETE answers `head :ok`
            return None
        try:
            return resposta.json()
        except ValueError as exc:
            raise IntegracaoError("chatwoot", f"{metodo} {caminho}: not JSON", transitorio=True) from exc

    @metrics.timed("chatwoot_criar_contato")
    async def criar_contato(self, telefone: str, nome: str | None) -> tuple[int, str | None]:
        """(contact id, the contact_inbox source_id when Chatwoot returns one). A phone already taken
        (422) is looked up instead: the contact was created by an earlier, interrupted attempt."""
        corpo = {"inbox_id": self._inbox, "name": nome or telefone, "phone_number": telefone}
        try:
            dados = await self._chamar("POST", "/contacts", json=corpo)
        except IntegracaoError as exc:
            if exc.status != 422:
                raise
            return await self._buscar_contato(telefone), None
        payload = dados.get("payload", dados) if isinstance(dados, dict) else {}
        contato = payload.get("contact", payload) if isinstance(payload, dict) else {}
        inbox = payload.get("contact_inbox") if isinstance(payload, dict) else None
        source = inbox.get("source_id") if isinstance(inbox, dict) else None
        return int(contato["id"]), str(source) if source else None

    async def _buscar_contato(self, telefone: str) -> int:
        dados = await self._chamar("GET", "/contacts/search", params={"q": telefone})
        for contato in dados.get("payload", []) if isinstance(dados, dict) else []:
            if isinstance(contato, dict) and contato.get("phone_number") == telefone:
                return int(contato["id"])
        raise IntegracaoError("chatwoot", f"contact {telefone} exists but search misses it", transitorio=True)

    @metrics.timed("chatwoot_criar_conversa")
    async def criar_conversa(self, contato_id: int, source_id: str | None, telefone: str) -> int:
        corpo = {
            "source_id": source_id or telefone.lstrip("+"),
            "inbox_id": self._inbox,
            "contact_id": contato_id,
        }
        dados = await self._chamar("POST", "/conversations", json=corpo)
        return int(dados["id"])

    @metrics.timed("chatwoot_enviar_mensagem")
    async def enviar_mensagem(
        self, conversa_id: int, texto: str, tipo: Literal["incoming", "outgoing"]
    ) -> None:
        corpo = {"content": texto, "message_type": tipo, "private": False}
        await self._chamar("POST", f"/conversations/{conversa_id}/messages", json=corpo)

    @metrics.timed("chatwoot_nota_privada")
    async def nota_privada(self, conversa_id: int, texto: str) -> None:
        """A note only the agents see in the conversation (a reservation Júlia made, say)."""
        corpo = {"content": texto, "message_type": "outgoing", "private": True}
        await self._chamar("POST", f"/conversations/{conversa_id}/messages", json=corpo)

    @metrics.timed("chatwoot_adicionar_rotulo")
    async def adicionar_rotulo(self, conversa_id: int, rotulo: str = ROTULO_HUMANO) -> None:
        """POST .../labels replaces the list: read, merge, write."""
        caminho = f"/conversations/{conversa_id}/labels"
        atuais = (await self._chamar("GET", caminho)).get("payload", [])
        if rotulo not in atuais:
            await self._chamar("POST", caminho, json={"labels": [*atuais, rotulo]})

    @metrics.timed("chatwoot_apagar_contato")
    async def apagar_contato(self, contato_id: int) -> None:
        """LGPD erasure: the contact, and with it (Chatwoot's `has_many :conversations, dependent:
        :destroy`) its conversations and messages. A contact already gone (404) is done; Chatwoot refuses
        (422) a contact online in a live chat widget, which a WhatsApp contact never is."""
        try:
            await self._chamar("DELETE", f"/contacts/{contato_id}")
        except IntegracaoError as exc:
            if exc.status != 404:
                raise
