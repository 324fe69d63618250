"""The start-up check of the Chatwoot topology (julia/services/topology.py): julia's API inbox passes,
Evolution's own Chatwoot integration and inboxes that deliver by themselves are refused in one line. The
bodies are the fakes' (julia.testing), in Chatwoot's and Evolution's wire formats."""

from __future__ import annotations

import logging

import httpx
import httpx2
import pytest

from julia.errors import ConfigError
from julia.services import topology
from julia.settings import Settings
from julia.testing.chatwoot import inbox
from julia.testing.evolution import chatwoot_of_instance
from tests.service.conftest import CHATWOOT, EVOLUTION, Externals

FIND = f"{EVOLUTION}/chatwoot/find/julia"
INBOX = f"{CHATWOOT}/api/v1/accounts/1/inboxes/7"
EVOLUTION_WEBHOOK = "https://evolution.example.com/chatwoot/webhook/julia"


def _evolution(externals: Externals, resposta: httpx.Response) -> None:
    externals.router.get(FIND).mock(return_value=resposta)


def _inbox(externals: Externals, resposta: httpx.Response) -> None:
    externals.router.get(INBOX).mock(return_value=resposta)


def _on(on: bool) -> httpx.Response:
    return httpx.Response(200, json=chatwoot_of_instance("julia", on, EVOLUTION))


def _api(webhook_url: str | None = None) -> httpx.Response:
    return httpx.Response(200, json=inbox(7, "Channel::Api", webhook_url))


@pytest.mark.parametrize(
    "webhook_url", [None, "", "https://julia.example.com/webhooks/chatwoot?token=segredo"]
)
async def test_julias_api_inbox_passes(
    settings: Settings, http: httpx2.AsyncClient, externals: Externals, webhook_url: str | None
) -> None:
    _evolution(externals, _on(False))
    _inbox(externals, _api(webhook_url))
    await topology.verify(settings, http)


async def test_chatwoot_off_on_the_evolution_server_passes(
    settings: Settings, http: httpx2.AsyncClient, externals: Externals
) -> None:
    off = {"status": 400, "error": "Bad Request", "response": {"message": ["Chatwoot is disabled"]}}
    _evolution(externals, httpx.Response(400, json=off))
    _inbox(externals, _api())
    await topology.verify(settings, http)


async def test_evolutions_chatwoot_integration_is_refused(
    settings: Settings, http: httpx2.AsyncClient, externals: Externals
) -> None:
    _evolution(externals, _on(True))
    _inbox(externals, _api())
    with pytest.raises(ConfigError) as erro:
        await topology.verify(settings, http)
    assert "Evolution instance 'julia' has its own Chatwoot integration on" in str(erro.value)
    assert "docs/deploy.md#chatwoot" in str(erro.value)
    assert "token-do-chatwoot" not in str(erro.value)


@pytest.mark.parametrize(
    ("resposta", "said"),
    [
        (httpx.Response(200, json=inbox(7, "Channel::Whatsapp", None)), "is a Channel::Whatsapp inbox"),
        (_api(EVOLUTION_WEBHOOK), "(Evolution's Chatwoot integration)"),
        (_api("https://outro.example.com/hook?chave=segredo"), "https://outro.example.com/hook,"),
        (httpx.Response(404, json={"error": "Resource could not be found"}), "has no inbox 7 in account 1"),
        (httpx.Response(401, json={"error": "Invalid Access Token"}), "refused CHATWOOT_API_TOKEN"),
    ],
)
async def test_an_inbox_that_is_not_julias_is_refused(
    settings: Settings, http: httpx2.AsyncClient, externals: Externals, resposta: httpx.Response, said: str
) -> None:
    _evolution(externals, _on(False))
    _inbox(externals, resposta)
    with pytest.raises(ConfigError) as erro:
        await topology.verify(settings, http)
    assert said in str(erro.value)
    assert "\n" not in str(erro.value)
    assert "segredo" not in str(erro.value)


async def test_services_that_do_not_answer_only_warn(
    settings: Settings, http: httpx2.AsyncClient, externals: Externals, caplog: pytest.LogCaptureFixture
) -> None:
    """A Chatwoot or Evolution outage must not keep the WhatsApp line down across a restart."""
    externals.router.get(FIND).mock(side_effect=httpx.ConnectError("recusada"))
    _inbox(externals, httpx.Response(503, text="Service Unavailable"))
    with caplog.at_level(logging.WARNING, logger="julia.services.topology"):
        await topology.verify(settings, http)
    avisos = [r.getMessage() for r in caplog.records]
    assert any("could not read whether Evolution instance 'julia'" in a for a in avisos)
    assert any("could not read Chatwoot inbox 7" in a for a in avisos)
