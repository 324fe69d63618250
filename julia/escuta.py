"""A dedicated Postgres connection that LISTENs, re-established whenever it drops: one per process, shared
by whoever subscribes (`ouvir`): the cache's change feed (julia/cache/ouvinte.py) in every process, and in
the worker the job queues' wake-up too (julia/worker/despertador.py).

Never a pool connection: a listener holds its connection for the life of the process, and the pool's reset
on release (`UNLISTEN *`) would silence it. Notifications reach only a connection listening when they are
committed, so each subscriber's `ao_conectar` runs AFTER every LISTEN is in place: the subscriber catches
up there on what it may have missed while deaf, and a failure there counts as a failed connection
(retried, for every subscriber).

A dropped connection (Postgres restart, failover, pg_terminate_backend) is noticed through asyncpg's
termination callback, or by a periodic ping when the socket dies silently, and re-established with a
short backoff; the process keeps working meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from julia import db
from julia.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

Recebida = Callable[[str, str], None]  # (channel, payload): called in the event loop, must not block


class Escuta:
    def __init__(
        self, dsn: str, *, nome_sessao: str, descricao: str, reconectar_s: float = 1.0, ping_s: float = 10.0
    ) -> None:
        self._dsn = dsn
        self._recebidas: dict[str, Recebida] = {}  # channel -> its subscriber
        self._ao_conectar: list[Callable[[], Awaitable[None]]] = []
        self._nome_sessao = nome_sessao  # application_name: findable in pg_stat_activity
        self._descricao = descricao  # what the logs call this listener
        self._reconectar_s = reconectar_s
        self._ping_s = ping_s
        self.escutando = asyncio.Event()  # set while LISTEN is in place and `ao_conectar` is done
        self.conexoes = 0  # successful (re)connections
        self.pid: int | None = None  # the listening backend (tests terminate it)

    def ouvir(
        self,
        canais: Sequence[str],
        recebida: Recebida,
        *,
        ao_conectar: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Subscribe, before `rodando`: `recebida` gets the notifications of `canais`, and `ao_conectar` runs
        after every (re)connection's LISTENs."""
        self._recebidas.update(dict.fromkeys(canais, recebida))
        if ao_conectar is not None:
            self._ao_conectar.append(ao_conectar)

    @contextlib.asynccontextmanager
    async def rodando(self) -> AsyncIterator[Escuta]:
        """Listen in the background for the duration of the block."""
        tarefa = asyncio.create_task(self.rodar())
        try:
            yield self
        finally:
            tarefa.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tarefa

    async def rodar(self) -> None:
        """Listen and reconnect, until cancelled."""
        while True:
            try:
                await self._sessao()
            except db.POSTGRES_ERRORS as exc:
                log.warning("%s lost (%s); reconnecting", self._descricao, exc or type(exc).__name__)
            except DatabaseUnavailable as exc:
                log.warning("%s: %s; retrying", self._descricao, exc)
            except Exception:  # whatever it was, the listener must come back rather than die quietly
                log.exception("%s failed; reconnecting", self._descricao)
            self.escutando.clear()
            await asyncio.sleep(self._reconectar_s)

    async def _sessao(self) -> None:
        conn = await db.connect(self._dsn)
        caiu: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def terminou(_conn: object) -> None:
            if not caiu.done():
                caiu.set_result(None)

        conn.add_termination_listener(terminou)
        try:
            await conn.execute(f"SET application_name = '{self._nome_sessao}'")
            for canal in self._recebidas:
                await conn.add_listener(canal, self._repassar)
            self.pid = conn.get_server_pid()
            for ao_conectar in self._ao_conectar:
                await ao_conectar()
            self.conexoes += 1
            self.escutando.set()
            log.info(
                "%s listening on %s (connection %d)",
                self._descricao,
                ", ".join(self._recebidas),
                self.conexoes,
            )
            while not caiu.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(caiu), self._ping_s)
                if not caiu.done():
                    await conn.fetchval("SELECT 1", timeout=self._ping_s)  # a silently dead socket
            raise OSError("listening connection closed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    def _repassar(self, _conn: object, _pid: int, canal: str, payload: object) -> None:
        self._recebidas[canal](canal, str(payload))
