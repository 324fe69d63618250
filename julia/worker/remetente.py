"""The sender: drains fila_mensagens through Evolution (sendText, or sendTemplate on the Cloud API: the
channel's rules are julia/worker/channel.py's), never sending a message twice.

- Claims from the send queue (julia/services/queues.py `SendQueue`, over `reivindicar_mensagens`: priority,
  then schedule), as many rows as there are free slots; it does not wait for a batch to finish before
  claiming more. A failed send goes back through the queue's policy (its tries, backoff and rate-limit
  waits are that module's, and it records every outcome).
- Each doctor's rows go one after another, in queue order (one task per doctor with work); doctors go in
  parallel, so a slow send delays only its own doctor. Per-instance rate limits shared by every worker
  process bound them all, one for replies to waiting doctors and one for campaigns (`_aguardar_vez`:
  julia/worker/taxa.py, a token bucket in Redis).
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
- A stop of sending (julia/services/pausa.py: a person's, WhatsApp disconnected, campaigns paused by failed
  deliveries) is read before each batch: nothing it holds is claimed, and a row claimed before it began
  is given back right before its send would start ('pendente' again, the claim not counted). So a stop
  holds every send but those already under way within one batch's poll (`_retencao`, read at most
  the loop's poll interval apart), and loses none.
- An agent's reply relayed from Chatwoot (a row with `chatwoot_message_id`, julia/services/repasse.py) goes
  the same way, is not mirrored back to Chatwoot (it is there already), and when iniciar_envio cancels it
  (the doctor opted out since) its author gets a private note saying so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque

from julia.integrations import IntegracaoError
from julia.integrations.evolution import EnvioIncerto
from julia.metrics import metrics
from julia.services.campanhas import PRIORIDADE_CAMPANHA
from julia.services.pausa import Retencao
from julia.services.queues import SEND, SendQueue, SendRow
from julia.services.repasse import NOTA_AGUARDANDO, NOTA_NAO_ENVIADA, NOTA_RECUSA
from julia.settings import Settings
from julia.worker.channel import Channel
from julia.worker.context import WorkerContext
from julia.worker.espelho import anotar, espelhar
from julia.worker.pausa import retencao_do_envio
from julia.worker.taxa import Taxa, classe

log = logging.getLogger(__name__)

VARREDURA_S = 5.0  # how often a sender looks for sends whose sender died ('enviando' past its lease)
LOTE_MINIMO = 20


def lote_para(settings: Settings) -> int:
    """Rows one sender holds at most: a second of both send rates, at least LOTE_MINIMO. A row is held for
    its whole send (the statements around it, sendText, the Chatwoot mirror: well under a second at p99),
    so fewer slots than that would cap the sends below the rate the business set. A fixed 20 did, at
    120 replies/s: 128 replies waited to be sent while the rate limiter had tokens to spare. On a Baileys
    number an unsolicited send also holds its slot through Evolution's typing delay."""
    atraso_s = (
        settings.evolution_typing_delay_ms / 1000 if settings.evolution_integration == "baileys" else 0.0
    )
    campanhas = settings.evolution_campanha_rate_per_s * (1 + atraso_s)
    return max(LOTE_MINIMO, math.ceil(settings.evolution_rate_per_s + campanhas))


class Remetente:
    def __init__(self, s: WorkerContext, *, fila: SendQueue | None = None) -> None:
        self._s = s
        self._lote = lote_para(s.settings)  # rows held at most (claimed, waiting or in flight)
        self.fila = fila or SendQueue(SEND)
        self._taxa = Taxa(s.redis, s.settings)
        self._canal = Channel(s)
        # The lease of a send under way outlasts the call, so the sweep never takes a live one for dead.
        self._lease_envio_s = max(float(s.settings.queue_lease_s), 2 * s.settings.evolution_timeout_s)
        self._por_medico: dict[int, deque[SendRow]] = {}
        self._tarefas: dict[int, asyncio.Task[None]] = {}
        self._retidas = 0
        self._proxima_varredura = 0.0
        self._retencao: Retencao = "nada"  # what the stop of sending held back at the last batch

    async def despachar(self) -> int:
        """Claim what fits in the free slots and start sending it; how many rows were claimed (0: nothing
        due, no free slot, or sending paused)."""
        self._retencao = await retencao_do_envio(self._s.redis)
        if self._retencao == "tudo":
            return 0  # stopped (a person, WhatsApp disconnected), or Redis away: the queue waits intact
        await self._varrer_incertas()
        livres = self._lote - self._retidas
        if livres <= 0:
            return 0
        minima = PRIORIDADE_CAMPANHA + 1 if self._retencao == "campanhas" else 0
        linhas = await self.fila.claim(self._s.pool, livres, self._s.settings.queue_lease_s, minima)
        for linha in sorted(linhas, key=lambda r: r.id):
            self._retidas += 1
            self._por_medico.setdefault(linha.cliente_id, deque()).append(linha)
            if linha.cliente_id not in self._tarefas:
                tarefa = asyncio.create_task(self._enviar_do_medico(linha.cliente_id))
                self._tarefas[linha.cliente_id] = tarefa
        return len(linhas)

    async def aguardar(self) -> None:
        """Until every row this sender holds is done (a stop, or a test's step)."""
        while self._tarefas:
            await asyncio.wait(list(self._tarefas.values()))

    async def _enviar_do_medico(self, cliente_id: int) -> None:
        fila = self._por_medico[cliente_id]
        try:
            while fila:
                linha = fila.popleft()
                try:
                    await self._enviar(linha)
                except Exception:  # one bad row must not stop the doctor's others; its lease brings it back
                    log.exception("fila_mensagens %s: unexpected failure", linha.id)
                finally:
                    self._retidas -= 1
        finally:
            del self._por_medico[cliente_id], self._tarefas[cliente_id]

    async def _enviar(self, linha: SendRow) -> None:
        s, fila = self._s, self.fila
        try:
            # Before the rate limiter: a row put off (the doctor's sending window, the number's hourly or
            # daily most) takes no token.
            adiada = await self._canal.not_yet(linha)
            if adiada is None:
                await self._aguardar_vez(linha)
        except Exception as exc:  # the limiter's Redis went away: nothing was sent, try again later
            await fila.retry_later(s.pool, linha, f"rate limiter unavailable: {type(exc).__name__}: {exc}")
            return
        if adiada is not None:
            log.info("fila_mensagens %s: put off to %s: %s", linha.id, *adiada)
            await fila.put_off(s.pool, linha, *adiada)
            return
        if self._retida(linha):
            await self._canal.release(linha)
            await fila.give_back(s.pool, linha)
            log.info("fila_mensagens %s: held back by the stop of sending, given back", linha.id)
            return
        destino = await fila.start_send(s.pool, linha, self._lease_envio_s, self._canal.rules)
        if destino is None:
            log.warning("fila_mensagens %s: claim lost to another sender before sending", linha.id)
            return
        # 'cancelada': a campaign message to a doctor who opted out, is blocked or had the week's most;
        # 'pendente': one put off while the doctor is in a conversation; 'aguardando_resposta': free text
        # past the Cloud API's 24 hours, behind a re-engagement template already sent (channel.py).
        if destino.status in ("cancelada", "pendente", "aguardando_resposta"):
            await self._canal.release(linha)
            # An agent's (always queued in its conversation): its author must learn it.
            if destino.status == "cancelada" and linha.chatwoot_message_id and linha.conversa_id:
                await anotar(s, linha.conversa_id, NOTA_RECUSA)
            if destino.status == "aguardando_resposta" and linha.chatwoot_message_id and linha.conversa_id:
                await anotar(s, linha.conversa_id, NOTA_AGUARDANDO)
            return
        if destino.status == "erro":
            log.error(
                "fila_mensagens %s: claimed %s times without a send, kept as 'erro'",
                linha.id,
                linha.tentativas,
            )
            if linha.chatwoot_message_id and linha.conversa_id:  # an agent's: its author must learn it
                await anotar(s, linha.conversa_id, NOTA_NAO_ENVIADA)
            return
        try:
            enviado = await self._canal.send(linha, destino)
        except EnvioIncerto as exc:
            metrics.count("envio_incerto")
            log.error(
                "fila_mensagens %s: send outcome unknown, held as 'incerto' for a person: %s", linha.id, exc
            )
            await fila.uncertain(s.pool, linha, str(exc))
            return
        except IntegracaoError as exc:  # Evolution answered that it did not send; a 400 will never send
            await fila.refused(s.pool, linha, exc)
            return
        if enviado.held:  # the re-engagement template went; the text waits for the doctor's answer
            await fila.awaiting_answer(s.pool, linha, enviado.whatsapp_id)
            log.info("fila_mensagens %s: re-engagement template sent, text held for the answer", linha.id)
            if linha.chatwoot_message_id and linha.conversa_id:
                await anotar(s, linha.conversa_id, NOTA_AGUARDANDO)
            return
        conversa_id = await fila.sent(s.pool, linha, enviado.whatsapp_id)
        if conversa_id is not None and linha.chatwoot_message_id is None:  # an agent's is in Chatwoot
            await espelhar(s, conversa_id, linha.conteudo, "outgoing")
        log.debug("fila_mensagens %s sent (try %s)", linha.id, linha.tentativas)

    async def _varrer_incertas(self) -> None:
        if time.monotonic() < self._proxima_varredura:
            return
        self._proxima_varredura = time.monotonic() + VARREDURA_S
        for fila_id in await self.fila.sweep_uncertain(self._s.pool):
            metrics.count("envio_incerto")
            log.error("fila_mensagens %s: its sender stopped during the send; held as 'incerto'", fila_id)

    def _retida(self, linha: SendRow) -> bool:
        """Whether the stop of sending, as last read, holds this row back."""
        if self._retencao == "campanhas":
            return linha.prioridade <= PRIORIDADE_CAMPANHA
        return self._retencao == "tudo"

    async def _aguardar_vez(self, linha: SendRow) -> None:
        """The row's class's token (reply or campaign), shared by every worker process."""
        await self._taxa.aguardar(classe(linha.prioridade))
