"""The worker process: answers inbound messages (as many doctors at once as its adaptive limit allows,
julia/worker/concorrencia.py, at most MAX_WORKERS), drains the send queue, and checks health for Slack
alerts; the loops survive a Postgres outage (logged, retried) and stop on `parar`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from julia.alerts import verificar_e_alertar
from julia.health import HealthCheck
from julia.metrics import metrics
from julia.queries import sql
from julia.worker import resposta
from julia.worker.concorrencia import Concorrencia
from julia.worker.envio import Remetente
from julia.worker.servicos import Servicos

log = logging.getLogger(__name__)

ALERTA_INTERVALO_S = 60.0  # a problem is announced within a minute; Slack sees at most one round a minute


class Worker:
    def __init__(
        self,
        s: Servicos,
        *,
        intervalo_s: float = 0.2,
        backoff_entrada_s: float = 5.0,
        backoff_envio_s: float = 2.0,
    ) -> None:
        self._s = s
        self._intervalo_s = intervalo_s  # idle poll period: the latency floor of an answer
        self._backoff_entrada_s = backoff_entrada_s
        self.remetente = Remetente(s, backoff_s=backoff_envio_s)
        self.concorrencia = Concorrencia(s.settings.max_workers)
        s.claude.observador = self.concorrencia.observar

    async def rodar(self, parar: asyncio.Event) -> None:
        await asyncio.gather(self._loop_entradas(parar), self._loop_envio(parar), self._loop_alertas(parar))

    async def reivindicar_entradas(self, limite: int) -> list[asyncpg.Record]:
        return await self._s.pool.fetch(
            sql("reivindicar_entradas"), limite, float(self._s.settings.queue_lease_s)
        )

    async def _loop_entradas(self, parar: asyncio.Event) -> None:
        emcurso: set[asyncio.Task[None]] = set()
        while not parar.is_set():
            livres = self.concorrencia.livres(len(emcurso))
            novas: list[asyncpg.Record] = []
            if livres > 0:
                try:
                    novas = await self.reivindicar_entradas(livres)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.error("cannot claim inbound messages: %s", exc)
            for tarefa in novas:
                emcurso.add(asyncio.create_task(self._processar(tarefa)))
            if not novas or livres <= len(novas):
                # Idle or full: wait for a slot, new work (next poll) or the stop signal.
                espera = [asyncio.create_task(parar.wait()), *emcurso]
                await asyncio.wait(espera, timeout=self._intervalo_s, return_when=asyncio.FIRST_COMPLETED)
                espera[0].cancel()
            emcurso = {t for t in emcurso if not t.done()}
        if emcurso:
            await asyncio.wait(emcurso)  # a stop lets replies in flight finish (or their lease returns them)

    async def _processar(self, tarefa: asyncpg.Record) -> None:
        try:
            await resposta.processar(self._s, tarefa, backoff_s=self._backoff_entrada_s)
        except Exception as exc:
            log.exception("entrada %s: unexpected failure", tarefa["id"])
            with contextlib.suppress(Exception):  # if Postgres is gone too, the lease brings the row back
                await resposta.registrar_falha(
                    self._s.pool, tarefa, f"{type(exc).__name__}: {exc}", self._backoff_entrada_s
                )

    async def _loop_envio(self, parar: asyncio.Event) -> None:
        while not parar.is_set():
            try:
                enviados = await self.remetente.drenar_lote()
            except Exception:
                log.exception("send loop failed; retrying")
                enviados = 0
            if enviados == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(parar.wait(), self._intervalo_s)

    async def _loop_alertas(self, parar: asyncio.Event) -> None:
        s = self._s
        check = HealthCheck.build(s.settings, s.pool, s.redis, metrics)
        while not parar.is_set():
            try:
                await verificar_e_alertar(check, http=s.http, webhook_url=s.settings.slack_webhook_url)
            except Exception:  # alerting must never stop the worker
                log.exception("health/alert round failed; next round in %.0f s", ALERTA_INTERVALO_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parar.wait(), ALERTA_INTERVALO_S)
