"""How a claimed row goes out on the instance's integration (EVOLUTION_INTEGRATION, issue 36): the sender's
(julia/worker/sender.py) three questions to the channel.

- `not_yet`: must the row wait? A campaign row, or a notice that is not urgent, outside the doctor's
  sending window (julia/worker/sending_window.py) waits for the next opening; on a Baileys number an
  unsolicited row past the hour's or the day's most (julia/worker/quota.py) waits for that hour or day to
  end. Asked before the rate limiter, so a row put off takes no token. Only a send Evolution accepted
  counts toward those most (`send` confirms the slot `not_yet` reserved; a refusal or a row not sent after
  all, `release`, frees it).
- `rules`: what iniciar_envio holds the row to (the weekly cap, a doctor in a conversation, and on the
  Cloud API no free text outside the 24-hour window).
- `send`: on the Cloud API a row that carries a template (campaigns that name one, notices) goes through
  sendTemplate with its parameters; everything else is sendText, on a Baileys number with Evolution's
  'typing...' delay before an unsolicited one.

Free text to a doctor silent for 24 hours on the Cloud API (a late reply, an agent's answer from Chatwoot;
iniciar_envio says so with `reengajar`, or Meta's own 131047 says it when julia's record disagreed): no
template can carry arbitrary text, so the approved re-engagement template (julia/templates.py,
`retomar_conversa`) goes in its place, the doctor's first name its parameter, and `send` answers `held`:
the sender keeps the text 'aguardando_resposta' until the doctor answers (the statement that stores their
message, julia/sql/entradas.sql registrar_entrada, makes it pending then, and it goes inside the window
the answer opened). A second text to the same doctor waits with the first, without a second template. A
doctor who never answers never gets the text: it stays 'aguardando_resposta' (docs/runbook.md says how to
see them); an opt-out cancels it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from julia.errors import ConfigError
from julia.integrations import IntegrationError
from julia.integrations.evolution import OUTSIDE_24H_WINDOW, Evolution, MetaRefusal, UncertainSend
from julia.services.queues import SendRow, SendRules, SendTarget
from julia.templates import REENGAGEMENT, UnknownTemplate, template
from julia.worker.context import WorkerContext
from julia.worker.quota import Quota
from julia.worker.rate import message_class
from julia.worker.sending_window import SendingWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """What the send did: WhatsApp's id of what went, and `held` when it was the re-engagement template in
    place of the row's text (the text then waits for the doctor's answer)."""

    whatsapp_id: str | None
    held: bool = False


class Channel:
    def __init__(self, s: WorkerContext) -> None:
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
        """When the row may go and why not now; None: it may go now (a quota slot is then reserved, for
        `send` to count or `release` to free)."""
        now = dt.datetime.now(dt.UTC)
        # A campaign row, or a notice queued with the doctor's zone (one about a shift not due before the
        # day after tomorrow: julia/services/avisos.py); an urgent notice has none and goes at any hour.
        if row.campanha_id is not None or row.fuso is not None:
            opening = self._window.next_opening(now, row.fuso)
            if opening is not None:
                zone = row.fuso or "Brasília"
                return (
                    opening,
                    f"fora da janela de envio do médico ({zone}): vai em {opening:%Y-%m-%d %H:%M %z}",
                )
        if self._counted(row):
            assert self._quota is not None
            wait_s = await self._quota.take(_reservation(row))
            if wait_s > 0:
                when = now + dt.timedelta(seconds=wait_s)
                return when, "limite de mensagens não solicitadas por hora ou por dia do número (Baileys)"
        return None

    def _counted(self, row: SendRow) -> bool:
        """Whether the row is unsolicited on a Baileys number: held to the hour's and the day's most."""
        return self._quota is not None and message_class(row.prioridade) == "campanha"

    async def release(self, row: SendRow) -> None:
        """The row `not_yet` let go will not be sent now after all (cancelled, put off, given back): its
        quota slot is free for another."""
        if self._quota is not None and self._counted(row):  # (the first test narrows the type)
            await self._quota.release(_reservation(row))

    async def send(self, row: SendRow, destination: SendTarget) -> Sent:
        """Send the row to iniciar_envio's `destino`. The errors of Evolution.enviar_texto/enviar_modelo.
        On a Baileys number an unsolicited row's quota slot is counted when Evolution accepted it (or may
        have: EnvioIncerto), freed when Evolution refused it."""
        if self._quota is None or not self._counted(row):
            return await self._send(row, destination)
        try:
            sent = await self._send(row, destination)
        except UncertainSend:
            await self._quota.confirm(_reservation(row))
            raise
        except IntegrationError:
            await self._quota.release(_reservation(row))
            raise
        await self._quota.confirm(_reservation(row))
        return sent

    async def _send(self, row: SendRow, destination: SendTarget) -> Sent:
        telefone = destination.telefone
        if self.cloud_api and row.modelo is not None:
            try:
                tmpl = template(row.modelo)
            except UnknownTemplate as exc:  # queued before the template left julia/templates.py
                raise IntegrationError("evolution", str(exc), transient_one=False) from exc
            return Sent(await self._evolution.send_template(telefone, tmpl, row.modelo_parametros or []))
        if destination.reengajar:
            return await self._reengage(telefone, destination.primeiro_nome)
        delay_ms = self._typing_ms if message_class(row.prioridade) == "campanha" else 0
        try:
            return Sent(await self._evolution.send_text(telefone, row.conteudo, delay_ms=delay_ms))
        except MetaRefusal as exc:
            if exc.code != OUTSIDE_24H_WINDOW:
                raise
            # Meta's clock of the 24 hours is the one that counts (a message julia never stored, a clock
            # apart): nothing went, so the template goes now, in the same attempt.
            log.info("free text refused by Meta (131047): the re-engagement template goes instead")
            return await self._reengage(telefone, destination.primeiro_nome)

    async def _reengage(self, telefone: str, primeiro_nome: str) -> Sent:
        tmpl = template(REENGAGEMENT)
        return Sent(await self._evolution.send_template(telefone, tmpl, [primeiro_nome]), held=True)


def _reservation(row: SendRow) -> str:
    return f"{row.id}:{row.tentativas}"  # one claim of one row


async def check_integration(settings_integration: str, evolution: Evolution) -> None:
    """At the worker's start: the instance must be what EVOLUTION_INTEGRATION says, or the channel's rules
    would be the wrong ones (free text refused by Meta, or templates on a number that has none). A
    mismatch stops the start with one line (ConfigError); an Evolution that does not answer now is logged
    and the setting stands (the worker must start through an Evolution outage)."""
    try:
        integration = await evolution.integracao()
    except IntegrationError as exc:
        log.warning(
            "EVOLUTION_INTEGRATION=%s not checked against the instance: %s", settings_integration, exc
        )
        return
    if integration != settings_integration:
        raise ConfigError(
            f"EVOLUTION_INTEGRATION is {settings_integration} but Evolution's instance is "
            f"{integration or 'neither baileys nor cloud-api'}: set it to match the instance"
        )
