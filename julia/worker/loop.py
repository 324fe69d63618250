"""The worker process: answers inbound messages (as many doctors at once as its adaptive limit allows,
julia/worker/concorrencia.py, at most MAX_WORKERS), drains the send queue, and checks health for Slack
alerts; the loops survive a Postgres outage (logged, retried) and stop on `parar`. Both queues are lease
queues with one policy (julia/services/queues.py): an idle loop wakes on its table's NOTIFY when given the
process's listener (`escuta`, the cache's change feed's connection: julia/worker/despertador.py), and
polls every `intervalo_s` in any case."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from julia import db
from julia.alerts import check_and_alert
from julia.escuta import Escuta
from julia.health import HealthCheck
from julia.integrations.claude import pior_caso_s
from julia.metrics import metrics
from julia.services import avisos, entregas, gauges, lgpd
from julia.services.queues import INBOUND, SEND, InboundQueue, InboundRow, SendQueue
from julia.worker import resposta
from julia.worker.concorrencia import Concorrencia
from julia.worker.context import WorkerContext
from julia.worker.despertador import Despertador
from julia.worker.remetente import Remetente
from julia.worker.taxa import PRIORIDADE_RESPOSTA

log = logging.getLogger(__name__)

ALERTA_INTERVALO_S = 60.0  # a problem is announced within a minute; Slack sees at most one round a minute
RESERVAS_INTERVALO_S = 60.0  # an unconfirmed reservation reopens within a minute of its deadline
RETENCAO_PRIMEIRA_S = 60.0  # the first retention pass a minute after start, not in its rush
# An attempt may take Claude's worst case plus this (context reads, the reply's transaction, a slow pool).
PRAZO_FOLGA_S = 30.0


class Worker:
    def __init__(
        self,
        s: WorkerContext,
        *,
        intervalo_s: float = 0.2,
        backoff_entrada_s: float | None = None,
        backoff_envio_s: float | None = None,
        prazo_tentativa_s: float | None = None,
        escuta: Escuta | None = None,
    ) -> None:
        self._s = s
        # Idle poll period: the latency floor of an answer when no notification comes (none is listened
        # for without `escuta`, or the listener is reconnecting).
        self._intervalo_s = intervalo_s
        # The queues' policy is julia/services/queues.py's; a backoff given here (tests) only shortens it.
        self.entradas = InboundQueue(
            INBOUND if backoff_entrada_s is None else INBOUND.with_backoff(backoff_entrada_s),
            reply_priority=PRIORIDADE_RESPOSTA,
        )
        self._entradas_em_curso: dict[int, asyncio.Task[None]] = {}
        self._prazo_tentativa_s = prazo_tentativa_s or pior_caso_s(s.settings) + PRAZO_FOLGA_S
        self.remetente = Remetente(
            s, fila=SendQueue(SEND if backoff_envio_s is None else SEND.with_backoff(backoff_envio_s))
        )
        if escuta is not None:  # subscribed for the listener's life; its owner runs it (commands/worker.py)
            Despertador(escuta, [self.entradas, self.remetente.fila])
        self.concorrencia = Concorrencia(s.settings.max_workers)
        s.claude.observador = self.concorrencia.observar

    async def run(self, parar: asyncio.Event) -> None:
        loops = (
            self._inbound_loop(parar),
            self._send_loop(parar),
            self._alerts_loop(parar),
            self._retention_loop(parar),
            self._reservations_loop(parar),
        )
        await asyncio.gather(*loops)

    async def claim_entradas(self, limite: int) -> list[InboundRow]:
        """Claim up to `limite` rows to answer, never one this worker still runs."""
        return await self.entradas.claim(
            self._s.pool, limite, self._s.settings.queue_lease_s, list(self._entradas_em_curso)
        )

    async def _inbound_loop(self, parar: asyncio.Event) -> None:
        emcurso = self._entradas_em_curso
        while not parar.is_set():
            livres = self.concorrencia.livres(len(emcurso))
            novas: list[InboundRow] = []
            if livres > 0:
                try:
                    novas = await self.claim_entradas(livres)
                except db.POSTGRES_ERRORS as exc:
                    log.error("cannot claim inbound messages: %s", exc)
            for tarefa in novas:
                emcurso[tarefa.id] = asyncio.create_task(self._attempt(tarefa))
            if not novas or livres <= len(novas):
                # Idle or full: wait for a slot, new work (notified, or the next poll) or the stop signal.
                await self.entradas.idle(parar, self._intervalo_s, emcurso.values())
            for entrada_id in [i for i, t in emcurso.items() if t.done()]:
                del emcurso[entrada_id]
        if emcurso:
            # A stop lets replies in flight finish (or their lease returns them).
            await asyncio.wait(emcurso.values())

    async def _attempt(self, tarefa: InboundRow) -> None:
        """One attempt, bounded by its deadline and kept leased by a heartbeat while it runs: a slow Claude
        call neither loses its row to another worker nor runs forever."""
        lease_s = float(self._s.settings.queue_lease_s)
        batimento = asyncio.create_task(self.entradas.keep_lease(self._s.pool, tarefa, lease_s))
        try:
            async with asyncio.timeout(self._prazo_tentativa_s):
                await resposta.processar(self._s, tarefa, self.entradas)
        except Exception as exc:
            motivo = (
                f"attempt exceeded its deadline of {self._prazo_tentativa_s:g} s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            log.exception("entrada %s: %s", tarefa.id, motivo)
            with contextlib.suppress(Exception):  # if Postgres is gone too, the lease brings the row back
                await self.entradas.fail(self._s.pool, tarefa, motivo)
        finally:
            batimento.cancel()

    async def _send_loop(self, parar: asyncio.Event) -> None:
        while not parar.is_set():
            try:
                enviados = await self.remetente.despachar()
            except Exception:
                log.exception("send loop failed; retrying")
                enviados = 0
            if enviados == 0:
                await self.remetente.fila.idle(parar, self._intervalo_s)
        await self.remetente.aguardar()  # sends in flight finish and record their outcome

    async def _alerts_loop(self, parar: asyncio.Event) -> None:
        s = self._s
        check = HealthCheck.build(s.settings, s.pool, s.redis, metrics)
        while not parar.is_set():
            try:
                rodada = await check_and_alert(check, slack=s.slack)
                await entregas.pausar_campanhas_se_falham(s.redis, rodada.report)
                await gauges.publish(s.redis, s.pool, rodada.report.findings.operacao)
            except Exception:  # alerting must never stop the worker
                log.exception("health/alert round failed; next round in %.0f s", ALERTA_INTERVALO_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parar.wait(), ALERTA_INTERVALO_S)

    async def _reservations_loop(self, parar: asyncio.Event) -> None:
        """Reservations nobody confirmed within RESERVA_CONFIRMACAO_S go back to open and their doctors are
        told (julia/services/avisos.py); every worker sweeps, SKIP LOCKED keeps them apart."""
        s = self._s
        while not parar.is_set():
            try:
                await avisos.expirar_reservas(s.pool, s.cache, s.settings.reserva_confirmacao_s)
            except Exception:  # the sweep must never stop the worker
                log.exception("reservation sweep failed; next one in %.0f s", RESERVAS_INTERVALO_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parar.wait(), RESERVAS_INTERVALO_S)

    async def _retention_loop(self, parar: asyncio.Event) -> None:
        """The LGPD retention pass (julia/services/lgpd.py) every LGPD_RETENCAO_INTERVALO_S, the first a
        minute after start (not in the start-up's rush); 0 turns it off. Several workers may run it at
        once: leads are taken with SKIP LOCKED and a message deleted twice is simply not found."""
        intervalo_s = self._s.settings.lgpd_retencao_intervalo_s
        espera_s = min(RETENCAO_PRIMEIRA_S, intervalo_s)
        while intervalo_s and not parar.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parar.wait(), espera_s)
            if parar.is_set():
                return
            try:
                feito = await lgpd.reter(self._s.pool, self._s.settings, parar)
                if feito.total:
                    log.info("%s", feito.linha())
            except Exception:  # retention must never stop the worker; the next pass tries again
                log.exception("retention pass failed; next in %d s", intervalo_s)
            espera_s = intervalo_s
