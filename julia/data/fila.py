"""The lease queue both job tables run on: `entradas` (inbound messages to answer, julia/worker/resposta.py)
and `fila_mensagens` (messages to send, julia/worker/remetente.py).

A worker claims due rows with the table's own claim (FOR UPDATE SKIP LOCKED, leased: the inbound one
serialises each doctor's messages, the outbound one goes by priority), and each claim bumps `tentativas`,
which is also the fencing token: every later statement on the row holds only while `tentativas` is still
the claim's. A heartbeat (`manter_lease`) keeps a long attempt's lease. A failure is recorded by
one `Retentativa` (`falha`): pending again after an exponential backoff, or 'erro' with the reason at
the last attempt or for a failure that retrying cannot cure; a wait the service asked for (`espera`) puts
it back without counting the attempt. The statements are the table's
(julia/sql/<table>.sql, through its data module's `fila`); what they share, and the retry rule, is here.

Idle workers wait for the poll interval or a NOTIFY on the table's channel (the trigger of
migrations/0007_filas_avisos.sql), whichever comes first (`Despertador`): a row is claimed as soon as it
is committed, and a lost notification (the listener was reconnecting) costs at most one poll interval.

Not procrastinate or pgqueuer: both keep jobs in their own table, and julia's queues are the business's
tables `entradas` and `fila_mensagens`, with their indexes, per-doctor ordering and states (the delivery
protocol's 'enviando'/'incerto') that the runbook, the health check and the business's tools read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from julia.data._executor import Executor
from julia.escuta import Escuta
from julia.mascara import mascarar_telefones

log = logging.getLogger(__name__)

Reivindicar = Callable[..., Awaitable[list[asyncpg.Record]]]  # (db, limite, lease_s, *the table's own)


@dataclass(frozen=True)
class Retentativa:
    """Up to `maximo` attempts, the n-th failure waiting `backoff_s * 2**(n-1)`, at most `teto_s`."""

    maximo: int
    backoff_s: float
    teto_s: float = math.inf

    def esgotada(self, tentativa: int) -> bool:
        return tentativa >= self.maximo

    def espera_s(self, tentativa: int) -> float:
        espera: float = min(self.backoff_s * 2 ** (tentativa - 1), self.teto_s)
        return espera


@dataclass(frozen=True)
class Registro:
    """An outcome to record: a statement and its arguments, run by the caller (which may retry it while
    Postgres is away)."""

    consulta: str
    args: tuple[Any, ...]

    async def gravar(self, db: Executor) -> None:
        await db.execute(self.consulta, *self.args)


class Fila:
    def __init__(
        self,
        tabela: str,
        *,
        rotulo: str,
        reivindicar: Reivindicar,
        adiar: str,
        falhar: str,
        renovar: str | None = None,
        esperar: str | None = None,
        retentativa: Retentativa,
        esperas: Retentativa | None = None,
    ) -> None:
        """`tabela` is also the NOTIFY channel; `rotulo` names a row in logs; `adiar` ($1 id, $2 tentativas,
        $3 seconds, $4 reason), `falhar` ($1, $2, $3 reason), `renovar` ($1, $2, $3 lease seconds;
        RETURNING id) and `esperar` (as `adiar`, the attempt not counted: the table keeps `esperas`) are
        the table's statements, each fenced by $2. `esperas` is the rule of those waits (how many, how
        long), as `retentativa` is of the counted attempts."""
        self.tabela = tabela
        self.rotulo = rotulo
        self.retentativa = retentativa
        self._reivindicar = reivindicar
        self._adiar = adiar
        self._falhar = falhar
        self._renovar = renovar
        self._esperar = esperar
        self.esperas = esperas
        self.aviso = asyncio.Event()  # set by the Despertador when the table got rows

    async def reivindicar(
        self, db: Executor, limite: int, lease_s: float, *extra: Any
    ) -> list[asyncpg.Record]:
        """Up to `limite` due rows, leased for `lease_s` seconds, `tentativas` bumped."""
        return await self._reivindicar(db, limite, float(lease_s), *extra)

    async def manter_lease(self, db: Executor, linha: asyncpg.Record, lease_s: float) -> None:
        """The heartbeat of an attempt still running: the lease renewed every third of it (two beats may
        fail, a Postgres blip, before it ends); returns when another worker holds the row. Cancel it when
        the attempt ends."""
        assert self._renovar is not None, f"{self.tabela} has no lease renewal"
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                renovada = await db.fetchval(self._renovar, linha["id"], linha["tentativas"], lease_s)
            except Exception as exc:
                log.warning("%s %s: lease not renewed (%s); trying again", self.rotulo, linha["id"], exc)
                continue
            if renovada is None:
                log.warning(
                    "%s %s: lease lost; this attempt's outcome will be discarded", self.rotulo, linha["id"]
                )
                return

    def falha(self, linha: asyncpg.Record, motivo: str, *, definitiva: bool = False) -> Registro:
        """A failed attempt: again later, or 'erro' with the reason after the last one or when retrying
        cannot help (`definitiva`). Either way the row stays in Postgres: never lost."""
        motivo = mascarar_telefones(motivo)  # kept in last_error and logged: no phone in either
        tentativa = contadas(linha)
        if definitiva or self.retentativa.esgotada(tentativa):
            log.error("%s %s failed for good (try %s): %s", self.rotulo, linha["id"], tentativa, motivo)
            return Registro(self._falhar, (linha["id"], linha["tentativas"], motivo))
        return self.adiamento(linha, motivo)

    def adiamento(self, linha: asyncpg.Record, motivo: str) -> Registro:
        """Pending again after the backoff, whatever the attempt count (the claim enforces the cap)."""
        motivo = mascarar_telefones(motivo)
        tentativa = contadas(linha)
        espera = self.retentativa.espera_s(tentativa)
        log.warning(
            "%s %s failed (try %s), again in %.1fs: %s", self.rotulo, linha["id"], tentativa, espera, motivo
        )
        return Registro(self._adiar, (linha["id"], linha["tentativas"], espera, motivo))

    def espera(self, linha: asyncpg.Record, motivo: str) -> Registro:
        """The service asked us to wait (a rate limit), which says nothing about whether the row can be
        done: pending again after the `esperas` backoff, the attempt not counted against the cap, with up
        to a quarter of jitter so the rows one burst put back do not return together. Past the last wait
        it is a failed attempt like any other (`falha`)."""
        motivo = mascarar_telefones(motivo)
        assert self._esperar is not None, f"{self.tabela} counts every attempt"
        assert self.esperas is not None, f"{self.tabela} has no rule for waits"
        esperas: int = linha["esperas"]
        if self.esperas.esgotada(esperas):
            return self.falha(linha, motivo)
        espera_s = self.esperas.espera_s(esperas + 1) * random.uniform(1.0, 1.25)
        log.warning(
            "%s %s: %s; again in %.1fs (wait %s, not counted as a try)",
            self.rotulo,
            linha["id"],
            motivo,
            espera_s,
            esperas + 1,
        )
        return Registro(self._esperar, (linha["id"], linha["tentativas"], espera_s, motivo))

    async def aguardar(
        self, parar: asyncio.Event, intervalo_s: float, tarefas: Iterable[asyncio.Future[Any]] = ()
    ) -> None:
        """Until rows arrive (a notification), the poll interval passes, `parar` is set or one of `tarefas`
        ends. The notification is consumed here, before the caller's next claim: one arriving during the
        claim wakes the following wait, so none is lost between the two."""
        sinais = [asyncio.create_task(parar.wait()), asyncio.create_task(self.aviso.wait())]
        try:
            await asyncio.wait([*sinais, *tarefas], timeout=intervalo_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for sinal in sinais:
                sinal.cancel()
        self.aviso.clear()


def contadas(linha: asyncpg.Record) -> int:
    """The row's attempts that count against the cap: every claim but the waits (`esperas`, in a table
    that keeps them)."""
    tentativas: int = linha["tentativas"]
    esperas: int = linha.get("esperas", 0)
    return tentativas - esperas


class Despertador:
    """The queues' wake-up: one dedicated connection LISTENing on every queue's table channel."""

    def __init__(self, dsn: str, filas: Sequence[Fila], *, reconectar_s: float = 1.0) -> None:
        self._filas = {fila.tabela: fila for fila in filas}
        self.escuta = Escuta(
            dsn,
            list(self._filas),
            self._recebida,
            nome_sessao="julia-filas",
            descricao="queue wake-up",
            ao_conectar=self._acordar_todas,
            reconectar_s=reconectar_s,
        )

    def _recebida(self, canal: str, _payload: str) -> None:
        self._filas[canal].aviso.set()

    async def _acordar_todas(self) -> None:
        # Rows committed while nobody listened: claimed now rather than at the next poll.
        for fila in self._filas.values():
            fila.aviso.set()
