"""One Chatwoot topology, checked when `julia serve` and `julia worker` start (docs/deploy.md#chatwoot).

julia owns an API-channel inbox in Chatwoot (CHATWOOT_INBOX_ID): it mirrors both directions itself and
relays the agents' replies through its send queue (julia/services/relay.py). The other topology,
Evolution's own Chatwoot integration, is refused: Evolution forwards every outgoing, non-private message of
its inbox to WhatsApp (`receiveWebhook` in Evolution's chatwoot.service.ts), so julia's mirror of each of
Júlia's messages would reach the doctor a second time, and agents' replies would go past julia's opt-outs
and rate limits. Refused (ConfigError: one line, exit 1), when:
- the Evolution instance has its Chatwoot integration on (`GET /chatwoot/find/{instance}`);
- CHATWOOT_INBOX_ID is not an API channel: a WhatsApp Cloud or Twilio inbox sends agents' replies itself;
- the inbox's webhook URL points anywhere but julia's route (Evolution's is `/chatwoot/webhook/<instance>`):
  whatever listens there sees every agent's reply and may send it too.
A service that does not answer proves nothing either way: a warning, and julia starts (a Chatwoot or
Evolution outage must not keep the WhatsApp line down across a restart). Chatwoot's 401 and 404 are
settings to fix: refused.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx2

from julia.errors import ConfigError
from julia.integrations import IntegrationError
from julia.integrations.chatwoot import CANAL_API, Chatwoot
from julia.integrations.evolution import Evolution
from julia.settings import Settings

log = logging.getLogger(__name__)

JULIA_ROUTE = "/webhooks/chatwoot"
EVOLUTION_ROUTE = "/chatwoot/webhook/"
COMO = "docs/deploy.md#chatwoot"


async def verify(settings: Settings, http: httpx2.AsyncClient) -> None:
    """Raise ConfigError when the deployment is not julia's topology (see the module's docstring)."""
    if settings.evolution_url and settings.evolution_api_key:
        await _evolution(settings, http)
    if Chatwoot.configured(settings):
        await _inbox(settings, Chatwoot(settings, http))


async def _evolution(settings: Settings, http: httpx2.AsyncClient) -> None:
    on = await Evolution(settings, http).chatwoot_on()
    instancia = settings.evolution_instance
    if on is None:
        log.warning(
            "could not read whether Evolution instance '%s' has its own Chatwoot integration on; if it has, "
            "each of Júlia's messages mirrored to Chatwoot reaches WhatsApp twice (%s)",
            instancia,
            COMO,
        )
    elif on:
        raise ConfigError(
            f"Evolution instance '{instancia}' has its own Chatwoot integration on: Evolution would send "
            f"each of Júlia's messages julia mirrors to Chatwoot a second time; turn it off (its settings "
            f'with "enabled": false, POST /chatwoot/set/{instancia}) and give julia an API inbox ({COMO})'
        )


async def _inbox(settings: Settings, chatwoot: Chatwoot) -> None:
    inbox = settings.chatwoot_inbox_id
    try:
        dados = await chatwoot.read_inbox()
    except IntegrationError as exc:
        if exc.status == 401:
            raise ConfigError("Chatwoot refused CHATWOOT_API_TOKEN (HTTP 401)") from exc
        if exc.status == 404:
            raise ConfigError(
                f"Chatwoot has no inbox {inbox} in account {settings.chatwoot_account_id} (HTTP 404): set "
                f"CHATWOOT_INBOX_ID to julia's API inbox ({COMO})"
            ) from exc
        log.warning("could not read Chatwoot inbox %s to check it is julia's API inbox: %s", inbox, exc)
        return
    canal = dados.get("channel_type")
    if canal != CANAL_API:
        raise ConfigError(
            f"Chatwoot inbox {inbox} is a {canal} inbox, which sends agents' replies to the doctor itself, "
            f"past julia's opt-outs and rate limits: create an API-channel inbox for julia and set "
            f"CHATWOOT_INBOX_ID to it ({COMO})"
        )
    destination = dados.get("webhook_url") or ""
    parts = urlsplit(destination)
    if destination and not parts.path.rstrip("/").endswith(JULIA_ROUTE):
        who = " (Evolution's Chatwoot integration)" if EVOLUTION_ROUTE in parts.path else ""
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # without a query: it may hold a token
        raise ConfigError(
            f"Chatwoot inbox {inbox} posts its messages to {where}{who}, which could send agents' replies "
            f"and Júlia's mirrored messages to WhatsApp a second time: clear the inbox's webhook URL, julia "
            f"hears Chatwoot through the account webhook ({COMO})"
        )
