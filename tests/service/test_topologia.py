"""The start-up check of the Chatwoot topology (julia/services/topologia.py): julia's API inbox passes,
Evolution's own Chatwoot integration and inboxes that deliver by themselves are refused in one line. The
bodies are the fakes' (julia.testing), in Chatwoot's and Evolution's wire formats."""

from __future__ import annotations

import logging

import httpx
import httpx2
import pytest

from julia.errors import ConfigError
from julia.services import topologia
from julia.settings import Settings
from julia.testing.chatwoot import inbox
from julia.testing.evolution import chatwoot_da_instancia
from tests.service.conftest import CHATWOOT, EVOLUTION, Externos

FIND = f"{EVOLUTION}/chatwoot/find/julia"
INBOX = f"{CHATWOOT}/api/v1/accounts/1/inboxes/7"
EVOLUTION_WEBHOOK = "https://evolution.example.com/chatwoot/webhook/julia"


def _evolution(externos: Externos, resposta: httpx.Response) -> None:
    externos.router.get(FIND).mock(return_value=resposta)


def _inbox(externos: Externos, resposta: httpx.Response) -> None:
    externos.router.get(INBOX).mock(return_value=resposta)


def _ligado(ligado: bool) -> httpx.Response:
    return httpx.Response(200, json=chatwoot_da_instancia("julia", ligado, EVOLUTION))


def _api(webhook_url: str | None = None) -> httpx.Response:
    return httpx.Response(200, json=inbox(7, "Channel::Api", webhook_url))


@pytest.mark.parametrize(
    "webhook_url", [None, "", "https://julia.example.com/webhooks/chatwoot?token=segredo"]
)
async def test_inbox_api_da_julia_passa(
    settings: Settings, http: httpx2.AsyncClient, externos: Externos, webhook_url: str | None
) -> None:
    _evolution(externos, _ligado(False))
    _inbox(externos, _api(webhook_url))
    await topologia.verificar(settings, http)


async def test_chatwoot_desligado_no_servidor_da_evolution_passa(
    settings: Settings, http: httpx2.AsyncClient, externos: Externos
) -> None:
    desligado = {"status": 400, "error": "Bad Request", "response": {"message": ["Chatwoot is disabled"]}}
    _evolution(externos, httpx.Response(400, json=desligado))
    _inbox(externos, _api())
    await topologia.verificar(settings, http)


async def test_integracao_chatwoot_da_evolution_e_recusada(
    settings: Settings, http: httpx2.AsyncClient, externos: Externos
) -> None:
    _evolution(externos, _ligado(True))
    _inbox(externos, _api())
    with pytest.raises(ConfigError) as erro:
        await topologia.verificar(settings, http)
    assert "Evolution instance 'julia' has its own Chatwoot integration on" in str(erro.value)
    assert "docs/deploy.md#chatwoot" in str(erro.value)
    assert "token-do-chatwoot" not in str(erro.value)


@pytest.mark.parametrize(
    ("resposta", "dito"),
    [
        (httpx.Response(200, json=inbox(7, "Channel::Whatsapp", None)), "is a Channel::Whatsapp inbox"),
        (_api(EVOLUTION_WEBHOOK), "(Evolution's Chatwoot integration)"),
        (_api("https://outro.example.com/hook?chave=segredo"), "https://outro.example.com/hook,"),
        (httpx.Response(404, json={"error": "Resource could not be found"}), "has no inbox 7 in account 1"),
        (httpx.Response(401, json={"error": "Invalid Access Token"}), "refused CHATWOOT_API_TOKEN"),
    ],
)
async def test_inbox_que_nao_e_a_da_julia_e_recusada(
    settings: Settings, http: httpx2.AsyncClient, externos: Externos, resposta: httpx.Response, dito: str
) -> None:
    _evolution(externos, _ligado(False))
    _inbox(externos, resposta)
    with pytest.raises(ConfigError) as erro:
        await topologia.verificar(settings, http)
    assert dito in str(erro.value)
    assert "\n" not in str(erro.value)
    assert "segredo" not in str(erro.value)


async def test_servicos_que_nao_respondem_so_avisam(
    settings: Settings, http: httpx2.AsyncClient, externos: Externos, caplog: pytest.LogCaptureFixture
) -> None:
    """A Chatwoot or Evolution outage must not keep the WhatsApp line down across a restart."""
    externos.router.get(FIND).mock(side_effect=httpx.ConnectError("recusada"))
    _inbox(externos, httpx.Response(503, text="Service Unavailable"))
    with caplog.at_level(logging.WARNING, logger="julia.services.topologia"):
        await topologia.verificar(settings, http)
    avisos = [r.getMessage() for r in caplog.records]
    assert any("could not read whether Evolution instance 'julia'" in a for a in avisos)
    assert any("could not read Chatwoot inbox 7" in a for a in avisos)
