"""How a claimed row goes out on the instance's integration (EVOLUTION_INTEGRATION, issue 36): the sender's
(julia/worker/remetente.py) three questions to the channel.

- `not_yet`: must the row wait? A campaign row outside the doctor's sending window
  (julia/worker/sending_window.py) waits for the next opening; on a Baileys number an unsolicited row past
  the hour's or the day's most (julia/worker/quota.py) waits for that hour or day to end. Asked before the
  rate limiter, so a row put off takes no token.
- `rules`: what iniciar_envio holds the row to (the weekly cap, a doctor in a conversation, and on the
  Cloud API no free text outside the 24-hour window).
- `send`: on the Cloud API a row that carries a template (campaigns that name one, notices) goes through
  sendTemplate with its parameters; everything else is sendText, on a Baileys number with Evolution's
  'typing...' delay before an unsolicited one.
"""

from __future__ import annotations

import datetime as dt
import logging

from julia.errors import ConfigError
from julia.integrations import IntegracaoError
from julia.integrations.evolution import Evolution
from julia.services.queues import SendRow, SendRules
from julia.templates import UnknownTemplate, template
from julia.worker.quota import Quota
from julia.worker.sending_window import SendingWindow
from julia.worker.servicos import Servicos
from julia.worker.taxa import classe

log = logging.getLogger(__name__)


class Channel:
    def __init__(self, s: Servicos) -> None:
        settings = s.settings
        self._evolution = s.evolution
        self.cloud_api = settings.evolution_integration == "cloud-api"
        self._window = SendingWindow(settings)
        self._quota = None if self.cloud_api else Quota(s.redis, settings)
        self._typing_ms = 0 if self.cloud_api else settings.evolution_typing_delay_ms
        self.rules = SendRules(
            free_text_needs_24h_window=self.cloud_api,
            campanha_max_per_week=settings.campanha_max_per_week,
            campanha_conversation_retry_s=settings.campanha_conversation_retry_s,
        )

    async def not_yet(self, row: SendRow) -> tuple[dt.datetime, str] | None:
        """When the row may go and why not now; None: it may go now (a quota slot is then taken)."""
        now = dt.datetime.now(dt.UTC)
        if row.campanha_id is not None:
            opening = self._window.next_opening(now, row.fuso)
            if opening is not None:
                zone = row.fuso or "Brasília"
                return (
                    opening,
                    f"fora da janela de envio do médico ({zone}): vai em {opening:%Y-%m-%d %H:%M %z}",
                )
        if self._quota is not None and classe(row.prioridade) == "campanha":
            wait_s = await self._quota.take()
            if wait_s > 0:
                when = now + dt.timedelta(seconds=wait_s)
                return when, "limite de mensagens não solicitadas por hora ou por dia do número (Baileys)"
        return None

    async def send(self, telefone: str, row: SendRow) -> str | None:
        """Send the row to `telefone`; the WhatsApp id. The errors of Evolution.enviar_texto/enviar_modelo."""
        if self.cloud_api and row.modelo is not None:
            try:
                tmpl = template(row.modelo)
            except UnknownTemplate as exc:  # queued before the template left julia/templates.py
                raise IntegracaoError("evolution", str(exc), transitorio=False) from exc
            return await self._evolution.enviar_modelo(telefone, tmpl, row.modelo_parametros or [])
        delay_ms = self._typing_ms if classe(row.prioridade) == "campanha" else 0
        return await self._evolution.enviar_texto(telefone, row.conteudo, delay_ms=delay_ms)


async def check_integration(settings_integration: str, evolution: Evolution) -> None:
    """At the worker's start: the instance must be what EVOLUTION_INTEGRATION says, or the channel's rules
    would be the wrong ones (free text refused by Meta, or templates on a number that has none). A
    mismatch stops the start with one line (ConfigError); an Evolution that does not answer now is logged
    and the setting stands (the worker must start through an Evolution outage)."""
    try:
        integration = await evolution.integracao()
    except IntegracaoError as exc:
        log.warning(
            "EVOLUTION_INTEGRATION=%s not checked against the instance: %s", settings_integration, exc
        )
        return
    if integration != settings_integration:
        raise ConfigError(
            f"EVOLUTION_INTEGRATION is {settings_integration} but Evolution's instance is "
            f"{integration or 'neither baileys nor cloud-api'}: set it to match the instance"
        )
