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
from julia.integrations.claude import pior_caso_s
from julia.metrics import metrics
from julia.queries import sql
from julia.worker import resposta
from julia.worker.concorrencia import Concorrencia
from julia.worker.envio import Remetente
from julia.worker.servicos import Servicos

log = logging.getLogger(__name__)

ALERTA_INTERVALO_S = 60.0  # a problem is announced within a minute; Slack sees at most one round a minute
# An attempt may take Claude's worst case plus this (context reads, the reply's transaction, a slow pool).
PRAZO_FOLGA_S = 30.0


class Worker:
    def __init__(
        self,
        s: Servicos,
        *,
        intervalo_s: float = 0.2,
        backoff_entrada_s: float = 5.0,
        backoff_envio_s: float = 2.0,
        prazo_tentativa_s: float | None = None,
    ) -> None:
        self._s = s
        self._intervalo_s = intervalo_s  # idle poll period: the latency floor of an answer
        self._backoff_entrada_s = backoff_entrada_s
        self._entradas_em_curso: dict[int, asyncio.Task[None]] = {}
        self._prazo_tentativa_s = prazo_tentativa_s or pior_caso_s(s.settings) + PRAZO_FOLGA_S
        self.remetente = Remetente(s, backoff_s=backoff_envio_s)
        self.concorrencia = Concorrencia(s.settings.max_workers)
        s.claude.observador = self.concorrencia.observar

    async def rodar(self, parar: asyncio.Event) -> None:
        await asyncio.gather(self._loop_entradas(parar), self._loop_envio(parar), self._loop_alertas(parar))

    async def reivindicar_entradas(self, limite: int) -> list[asyncpg.Record]:
        """Claim up to `limite` rows to answer, never one this worker still runs. Rows past the attempt cap
        come back from the claim as 'erro' (kept there with the reason) and are only logged here."""
        linhas = await self._s.pool.fetch(
            sql("reivindicar_entradas"),
            limite,
            float(self._s.settings.queue_lease_s),
            resposta.MAX_TENTATIVAS,
            list(self._entradas_em_curso),
        )
        for linha in linhas:
            if linha["status"] == "erro":
                log.error("entrada %s: attempt cap reached, kept as 'erro'", linha["id"])
        return [linha for linha in linhas if linha["status"] == "processando"]

    async def _loop_entradas(self, parar: asyncio.Event) -> None:
        emcurso = self._entradas_em_curso
        while not parar.is_set():
            livres = self.concorrencia.livres(len(emcurso))
            novas: list[asyncpg.Record] = []
            if livres > 0:
                try:
                    novas = await self.reivindicar_entradas(livres)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.error("cannot claim inbound messages: %s", exc)
            for tarefa in novas:
                emcurso[tarefa["id"]] = asyncio.create_task(self._processar(tarefa))
            if not novas or livres <= len(novas):
                # Idle or full: wait for a slot, new work (next poll) or the stop signal.
                espera = [asyncio.create_task(parar.wait()), *emcurso.values()]
                await asyncio.wait(espera, timeout=self._intervalo_s, return_when=asyncio.FIRST_COMPLETED)
                espera[0].cancel()
            for entrada_id in [i for i, t in emcurso.items() if t.done()]:
                del emcurso[entrada_id]
        if emcurso:
            # A stop lets replies in flight finish (or their lease returns them).
            await asyncio.wait(emcurso.values())

    async def _processar(self, tarefa: asyncpg.Record) -> None:
        """One attempt, bounded by its deadline and kept leased by a heartbeat while it runs: a slow Claude
        call neither loses its row to another worker nor runs forever."""
        batimento = asyncio.create_task(self._manter_lease(tarefa))
        try:
            async with asyncio.timeout(self._prazo_tentativa_s):
                await resposta.processar(self._s, tarefa, backoff_s=self._backoff_entrada_s)
        except Exception as exc:
            motivo = (
                f"attempt exceeded its deadline of {self._prazo_tentativa_s:g} s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            log.exception("entrada %s: %s", tarefa["id"], motivo)
            with contextlib.suppress(Exception):  # if Postgres is gone too, the lease brings the row back
                await resposta.registrar_falha(self._s.pool, tarefa, motivo, self._backoff_entrada_s)
        finally:
            batimento.cancel()

    async def _manter_lease(self, tarefa: asyncpg.Record) -> None:
        lease_s = float(self._s.settings.queue_lease_s)
        while True:
            await asyncio.sleep(lease_s / 3)  # two beats may fail (a Postgres blip) before the lease ends
            try:
                renovada = await self._s.pool.fetchval(
                    sql("renovar_entrada"), tarefa["id"], tarefa["tentativas"], lease_s
                )
            except Exception as exc:
                log.warning("entrada %s: lease not renewed (%s); trying again", tarefa["id"], exc)
                continue
            if renovada is None:
                log.warning("entrada %s: lease lost; this attempt's reply will be discarded", tarefa["id"])
                return

    async def _loop_envio(self, parar: asyncio.Event) -> None:
        while not parar.is_set():
            try:
                enviados = await self.remetente.despachar()
            except Exception:
                log.exception("send loop failed; retrying")
                enviados = 0
            if enviados == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(parar.wait(), self._intervalo_s)
        await self.remetente.aguardar()  # sends in flight finish and record their outcome

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
