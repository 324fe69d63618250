"""The sender: drains fila_mensagens through Evolution (sendText, or sendTemplate on the Cloud API: the
channel's rules are julia/worker/channel.py's), never sending a message twice.

- Claims from the send queue (julia/services/queues.py `SendQueue`, over `reivindicar_mensagens`: priority,
  then schedule), as many rows as there are free slots; it does not wait for a batch to finish before
  claiming more. A failed send goes back through the queue's policy (its tries, backoff and rate-limit
  waits are that module's, and it records every outcome).
- Each doctor's rows go one after another, in queue order (one task per doctor with work); doctors go in
  parallel, so a slow send delays only its own doctor. Per-instance rate limits shared by every worker
  process bound them all, one for replies to waiting doctors and one for campaigns (`_await_turn`:
  julia/worker/rate.py, a token bucket in Redis).
- The delivery protocol (julia/sql/fila_mensagens.sql, migrations/0004_entrega.sql), Postgres being the
  record:
  0. a campaign row outside the doctor's sending window, or an unsolicited row past a Baileys number's
     hourly or daily most, is put back to when it may go (`reagendar_mensagem`, the claim not counted);
  1. `iniciar_envio` commits the intent ('enviando', attempt id = the claim's tentativas) before the call,
     once the rate limiter let it go, and reads the phone in the same statement (a campaign message to a
     doctor who has since opted out or had the week's most is cancelled there instead; one to a doctor in
     a conversation goes back to 'pendente' for later; free text the Cloud API would refuse sends the
     re-engagement template in its place and waits 'aguardando_resposta' for the doctor's answer:
     julia/worker/channel.py);
  2. the outcome follows: 'enviada'; or, when Evolution answered that it did not send, back to 'pendente'
     with exponential backoff (a 429: a wait, not counted as a try), 'erro' with the reason for a 400 or
     the last try;
  3. when the outcome is unknown (evolution.EnvioIncerto: a timeout after the request left, a dropped
     connection, a 502/504; or the sender died during the call, found by the `marcar_incertas` sweep),
     the row becomes 'incerto' and is never resent by julia. Evolution documents no lookup that would
     tell whether it went out, so a person checks the chat (docs/runbook.md); /admin and the health check
     count these rows, and the `envio_incerto` event counter (/metrics) counts each one.
  A row claimed more often than the queue's tries (senders dying before they send) ends in 'erro' too.
- A stop of sending (julia/services/pause.py: a person's, WhatsApp disconnected, campaigns paused by failed
  deliveries) is read before each batch: nothing it holds is claimed, and a row claimed before it began
  is given back right before its send would start ('pendente' again, the claim not counted). So a stop
  holds every send but those already under way within one batch's poll (`_retencao`, read at most
  the loop's poll interval apart), and loses none.
- An agent's reply relayed from Chatwoot (a row with `chatwoot_message_id`, julia/services/relay.py) goes
  the same way, is not mirrored back to Chatwoot (it is there already), and when iniciar_envio cancels it
  (the doctor opted out since) its author gets a private note saying so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque

from julia.integrations import IntegrationError
from julia.integrations.evolution import UncertainSend
from julia.metrics import metrics
from julia.services.campanhas import PRIORITY_CAMPANHA
from julia.services.pause import Retention
from julia.services.queues import SEND, SendQueue, SendRow
from julia.services.relay import NOTE_NOT_SENT, NOTE_REFUSAL, NOTE_WAITING
from julia.settings import Settings
from julia.worker.channel import Channel
from julia.worker.context import WorkerContext
from julia.worker.mirroring import annotate, mirror
from julia.worker.pause import send_retention
from julia.worker.rate import Rate, message_class

log = logging.getLogger(__name__)

SWEEP_S = 5.0  # how often a sender looks for sends whose sender died ('enviando' past its lease)
MIN_BATCH = 20


def batch_for(settings: Settings) -> int:
    """Rows one sender holds at most: a second of both send rates, at least LOTE_MINIMO. A row is held for
    its whole send (the statements around it, sendText, the Chatwoot mirror: well under a second at p99),
    so fewer slots than that would cap the sends below the rate the business set. A fixed 20 did, at
    120 replies/s: 128 replies waited to be sent while the rate limiter had tokens to spare. On a Baileys
    number an unsolicited send also holds its slot through Evolution's typing delay."""
    delay_s = (
        settings.evolution_typing_delay_ms / 1000 if settings.evolution_integration == "baileys" else 0.0
    )
    campanhas = settings.evolution_campanha_rate_per_s * (1 + delay_s)
    return max(MIN_BATCH, math.ceil(settings.evolution_rate_per_s + campanhas))


class Sender:
    def __init__(self, s: WorkerContext, *, queue: SendQueue | None = None) -> None:
        self._s = s
        self._batch = batch_for(s.settings)  # rows held at most (claimed, waiting or in flight)
        self.queue = queue or SendQueue(SEND)
        self._rate = Rate(s.redis, s.settings)
        self._canal = Channel(s)
        # The lease of a send under way outlasts the call, so the sweep never takes a live one for dead.
        self._send_lease_s = max(float(s.settings.queue_lease_s), 2 * s.settings.evolution_timeout_s)
        self._per_medico: dict[int, deque[SendRow]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._held_ones = 0
        self._next_sweep = 0.0
        self._retention: Retention = "nada"  # what the stop of sending held back at the last batch
        # The last batch claimed a row for every free slot: more rows may be due right now.
        self.filled = False

    async def dispatch(self) -> int:
        """Claim what fits in the free slots and start sending it; how many rows were claimed (0: nothing
        due, no free slot, or sending paused)."""
        self.filled = False
        self._retention = await send_retention(self._s.redis)
        if self._retention == "tudo":
            return 0  # stopped (a person, WhatsApp disconnected), or Redis away: the queue waits intact
        await self._sweep_uncertain()
        free_ones = self._batch - self._held_ones
        if free_ones <= 0:
            return 0
        minima = PRIORITY_CAMPANHA + 1 if self._retention == "campanhas" else 0
        linhas = await self.queue.claim(self._s.pool, free_ones, self._s.settings.queue_lease_s, minima)
        self.filled = len(linhas) == free_ones
        for linha in sorted(linhas, key=lambda r: r.id):
            self._held_ones += 1
            self._per_medico.setdefault(linha.cliente_id, deque()).append(linha)
            if linha.cliente_id not in self._tasks:
                task = asyncio.create_task(self._send_from_medico(linha.cliente_id))
                self._tasks[linha.cliente_id] = task
        return len(linhas)

    async def wait_for(self) -> None:
        """Until every row this sender holds is done (a stop, or a test's step)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def _send_from_medico(self, cliente_id: int) -> None:
        queue = self._per_medico[cliente_id]
        try:
            while queue:
                linha = queue.popleft()
                try:
                    await self._send(linha)
                except Exception:  # one bad row must not stop the doctor's others; its lease brings it back
                    log.exception("fila_mensagens %s: unexpected failure", linha.id)
                finally:
                    self._held_ones -= 1
        finally:
            del self._per_medico[cliente_id], self._tasks[cliente_id]

    async def _send(self, linha: SendRow) -> None:
        s, queue = self._s, self.queue
        try:
            # Before the rate limiter: a row put off (the doctor's sending window, the number's hourly or
            # daily most) takes no token.
            postponed_one = await self._canal.not_yet(linha)
            if postponed_one is None:
                await self._await_turn(linha)
        except Exception as exc:  # the limiter's Redis went away: nothing was sent, try again later
            await queue.retry_later(s.pool, linha, f"rate limiter unavailable: {type(exc).__name__}: {exc}")
            return
        if postponed_one is not None:
            log.info("fila_mensagens %s: put off to %s: %s", linha.id, *postponed_one)
            await queue.put_off(s.pool, linha, *postponed_one)
            return
        if self._held(linha):
            await self._canal.release(linha)
            await queue.give_back(s.pool, linha)
            log.info("fila_mensagens %s: held back by the stop of sending, given back", linha.id)
            return
        destination = await queue.start_send(s.pool, linha, self._send_lease_s, self._canal.rules)
        if destination is None:
            log.warning("fila_mensagens %s: claim lost to another sender before sending", linha.id)
            return
        # 'cancelada': a campaign message to a doctor who opted out, is blocked or had the week's most;
        # 'pendente': one put off while the doctor is in a conversation; 'aguardando_resposta': free text
        # past the Cloud API's 24 hours, behind a re-engagement template already sent (channel.py).
        if destination.status in ("cancelada", "pendente", "aguardando_resposta"):
            await self._canal.release(linha)
            # An agent's (always queued in its conversation): its author must learn it.
            if destination.status == "cancelada" and linha.chatwoot_message_id and linha.conversa_id:
                await annotate(s, linha.conversa_id, NOTE_REFUSAL)
            if (
                destination.status == "aguardando_resposta"
                and linha.chatwoot_message_id
                and linha.conversa_id
            ):
                await annotate(s, linha.conversa_id, NOTE_WAITING)
            return
        if destination.status == "erro":
            log.error(
                "fila_mensagens %s: claimed %s times without a send, kept as 'erro'",
                linha.id,
                linha.tentativas,
            )
            if linha.chatwoot_message_id and linha.conversa_id:  # an agent's: its author must learn it
                await annotate(s, linha.conversa_id, NOTE_NOT_SENT)
            return
        try:
            sent = await self._canal.send(linha, destination)
        except UncertainSend as exc:
            metrics.count("envio_incerto")
            log.error(
                "fila_mensagens %s: send outcome unknown, held as 'incerto' for a person: %s", linha.id, exc
            )
            await queue.uncertain(s.pool, linha, str(exc))
            return
        except IntegrationError as exc:  # Evolution answered that it did not send; a 400 will never send
            await queue.refused(s.pool, linha, exc)
            return
        if sent.held:  # the re-engagement template went; the text waits for the doctor's answer
            await queue.awaiting_answer(s.pool, linha, sent.whatsapp_id)
            log.info("fila_mensagens %s: re-engagement template sent, text held for the answer", linha.id)
            if linha.chatwoot_message_id and linha.conversa_id:
                await annotate(s, linha.conversa_id, NOTE_WAITING)
            return
        conversa_id = await queue.sent(s.pool, linha, sent.whatsapp_id)
        if conversa_id is not None and linha.chatwoot_message_id is None:  # an agent's is in Chatwoot
            await mirror(s, conversa_id, linha.conteudo, "outgoing")
        log.debug("fila_mensagens %s sent (try %s)", linha.id, linha.tentativas)

    async def _sweep_uncertain(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_S
        for fila_id in await self.queue.sweep_uncertain(self._s.pool):
            metrics.count("envio_incerto")
            log.error("fila_mensagens %s: its sender stopped during the send; held as 'incerto'", fila_id)

    def _held(self, linha: SendRow) -> bool:
        """Whether the stop of sending, as last read, holds this row back."""
        if self._retention == "campanhas":
            return linha.prioridade <= PRIORITY_CAMPANHA
        return self._retention == "tudo"

    async def _await_turn(self, linha: SendRow) -> None:
        """The row's class's token (reply or campaign), shared by every worker process."""
        await self._rate.wait_for(message_class(linha.prioridade))
