"""The worker process: answers inbound messages (as many doctors at once as its adaptive limit allows,
julia/worker/concurrency.py, at most MAX_WORKERS), drains the send queue, and checks health for Slack
alerts; the loops survive a Postgres outage (logged, retried) and stop on `parar`. Both queues are lease
queues with one policy (julia/services/queues.py): an idle loop wakes on its table's NOTIFY when given the
process's listener (`listening`, the cache's change feed's connection: julia/worker/waker.py), and
polls every `interval_s` in any case."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from julia import db
from julia.alerts import check_and_alert
from julia.health import HealthCheck
from julia.integrations.claude import worst_case_s
from julia.listening import Listening
from julia.metrics import metrics
from julia.services import avisos, deliveries, gauges, lgpd
from julia.services.queues import INBOUND, SEND, InboundQueue, InboundRow, SendQueue
from julia.worker import reply
from julia.worker.concurrency import Concurrency
from julia.worker.context import WorkerContext
from julia.worker.rate import PRIORITY_REPLY
from julia.worker.sender import Sender
from julia.worker.waker import Waker

log = logging.getLogger(__name__)

ALERT_INTERVAL_S = 60.0  # a problem is announced within a minute; Slack sees at most one round a minute
RESERVAS_INTERVAL_S = 60.0  # an unconfirmed reservation reopens within a minute of its deadline
FIRST_RETENTION_S = 60.0  # the first retention pass a minute after start, not in its rush
# An attempt may take Claude's worst case plus this (context reads, the reply's transaction, a slow pool).
DEADLINE_SLACK_S = 30.0


class Worker:
    def __init__(
        self,
        s: WorkerContext,
        *,
        interval_s: float = 0.2,
        backoff_inbound_s: float | None = None,
        backoff_send_s: float | None = None,
        attempt_deadline_s: float | None = None,
        listening: Listening | None = None,
    ) -> None:
        self._s = s
        # Idle poll period: the latency floor of an answer when no notification comes (none is listened
        # for without `listening`, or the listener is reconnecting).
        self._interval_s = interval_s
        # The queues' policy is julia/services/queues.py's; a backoff given here (tests) only shortens it.
        self.entradas = InboundQueue(
            INBOUND if backoff_inbound_s is None else INBOUND.with_backoff(backoff_inbound_s),
            reply_priority=PRIORITY_REPLY,
        )
        self._inbound_in_progress: dict[int, asyncio.Task[None]] = {}
        self._attempt_deadline_s = attempt_deadline_s or worst_case_s(s.settings) + DEADLINE_SLACK_S
        self.sender = Sender(
            s, queue=SendQueue(SEND if backoff_send_s is None else SEND.with_backoff(backoff_send_s))
        )
        if (
            listening is not None
        ):  # subscribed for the listener's life; its owner runs it (commands/worker.py)
            Waker(listening, [self.entradas, self.sender.queue])
        self.concurrency = Concurrency(s.settings.max_workers)
        s.claude.watcher = self.concurrency.watch

    async def run(self, stop: asyncio.Event) -> None:
        loops = (
            self._inbound_loop(stop),
            self._send_loop(stop),
            self._alerts_loop(stop),
            self._retention_loop(stop),
            self._reservations_loop(stop),
        )
        await asyncio.gather(*loops)

    async def claim_inbound(self, limit: int) -> list[InboundRow]:
        """Claim up to `limite` rows to answer, never one this worker still runs."""
        return await self.entradas.claim(
            self._s.pool, limit, self._s.settings.queue_lease_s, list(self._inbound_in_progress)
        )

    async def _inbound_loop(self, stop: asyncio.Event) -> None:
        in_progress_count = self._inbound_in_progress
        while not stop.is_set():
            free_ones = self.concurrency.free_ones(len(in_progress_count))
            novas: list[InboundRow] = []
            if free_ones > 0:
                try:
                    novas = await self.claim_inbound(free_ones)
                except db.POSTGRES_ERRORS as exc:
                    log.error("cannot claim inbound messages: %s", exc)
            for task in novas:
                in_progress_count[task.id] = asyncio.create_task(self._attempt(task))
            # Then wait for new rows (notified, or the next poll), a reply ending (its slot, and its doctor's
            # next message: only a doctor's oldest open row is claimable) or the stop signal. Not a claim
            # again at once after a batch shorter than the free slots: it took every row claimable, none of
            # its tasks has run yet, and a row inserted since notifies.
            await self.entradas.idle(stop, self._interval_s, in_progress_count.values())
            for entrada_id in [i for i, t in in_progress_count.items() if t.done()]:
                del in_progress_count[entrada_id]
        if in_progress_count:
            # A stop lets replies in flight finish (or their lease returns them).
            await asyncio.wait(in_progress_count.values())

    async def _attempt(self, task: InboundRow) -> None:
        """One attempt, bounded by its deadline and kept leased by a heartbeat while it runs: a slow Claude
        call neither loses its row to another worker nor runs forever."""
        lease_s = float(self._s.settings.queue_lease_s)
        heartbeat = asyncio.create_task(self.entradas.keep_lease(self._s.pool, task, lease_s))
        try:
            async with asyncio.timeout(self._attempt_deadline_s):
                await reply.process(self._s, task, self.entradas)
        except Exception as exc:
            motivo = (
                f"attempt exceeded its deadline of {self._attempt_deadline_s:g} s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            log.exception("entrada %s: %s", task.id, motivo)
            with contextlib.suppress(Exception):  # if Postgres is gone too, the lease brings the row back
                await self.entradas.fail(self._s.pool, task, motivo)
        finally:
            heartbeat.cancel()

    async def _send_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sender.dispatch()
            except Exception:
                log.exception("send loop failed; retrying")
            # Claimed again at once only when the batch filled every free slot (more may be due): a short
            # batch took every row due, and the next is notified (or polled).
            if not self.sender.filled:
                await self.sender.queue.idle(stop, self._interval_s)
        await self.sender.wait_for()  # sends in flight finish and record their outcome

    async def _alerts_loop(self, stop: asyncio.Event) -> None:
        s = self._s
        check = HealthCheck.build(s.settings, s.pool, s.redis, metrics)
        while not stop.is_set():
            try:
                this_round = await check_and_alert(check, slack=s.slack)
                await deliveries.pause_campanhas_if_failing(s.redis, this_round.report)
                await gauges.publish(s.redis, s.pool, this_round.report.findings.operacao)
            except Exception:  # alerting must never stop the worker
                log.exception("health/alert round failed; next round in %.0f s", ALERT_INTERVAL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ALERT_INTERVAL_S)

    async def _reservations_loop(self, stop: asyncio.Event) -> None:
        """Reservations nobody confirmed within RESERVA_CONFIRMACAO_S go back to open and their doctors are
        told (julia/services/avisos.py); every worker sweeps, SKIP LOCKED keeps them apart."""
        s = self._s
        while not stop.is_set():
            try:
                await avisos.expirar_reservas(s.pool, s.cache, s.settings.reserva_confirmacao_s)
            except Exception:  # the sweep must never stop the worker
                log.exception("reservation sweep failed; next one in %.0f s", RESERVAS_INTERVAL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESERVAS_INTERVAL_S)

    async def _retention_loop(self, stop: asyncio.Event) -> None:
        """The LGPD retention pass (julia/services/lgpd.py) every LGPD_RETENCAO_INTERVALO_S, the first a
        minute after start (not in the start-up's rush); 0 turns it off. Several workers may run it at
        once: leads are taken with SKIP LOCKED and a message deleted twice is simply not found."""
        interval_s = self._s.settings.lgpd_retencao_intervalo_s
        wait_s = min(FIRST_RETENTION_S, interval_s)
        while interval_s and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
            if stop.is_set():
                return
            try:
                done = await lgpd.reter(self._s.pool, self._s.settings, stop)
                if done.total:
                    log.info("%s", done.linha())
            except Exception:  # retention must never stop the worker; the next pass tries again
                log.exception("retention pass failed; next in %d s", interval_s)
            wait_s = interval_s
