"""A dedicated Postgres connection that LISTENs, re-established whenever it drops: one per process, shared
by its subscribers (`subscribe`): the cache's change feed (julia/cache/listener.py) in every process, and in
the worker the job queues' wake-up too (julia/worker/waker.py).

Never a pool connection: a listener holds its connection for the life of the process, and the pool's reset
on release (`UNLISTEN *`) would silence it. Notifications reach only a connection listening when they are
committed, so each subscriber's `on_connect` runs AFTER every LISTEN is in place: the subscriber catches
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

Received = Callable[[str, str], None]  # (channel, payload): called in the event loop, must not block


class Listening:
    def __init__(
        self, dsn: str, *, session_name: str, description: str, reconnect_s: float = 1.0, ping_s: float = 10.0
    ) -> None:
        self._dsn = dsn
        self._received_ones: dict[str, Received] = {}  # channel -> its subscriber
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self._session_name = session_name  # application_name: findable in pg_stat_activity
        self._description = description  # what the logs call this listener
        self._reconnect_s = reconnect_s
        self._ping_s = ping_s
        self.listening_now = asyncio.Event()  # set while LISTEN is in place and `on_connect` is done
        self.connections = 0  # successful (re)connections
        self.pid: int | None = None  # the listening backend (tests terminate it)

    def subscribe(
        self,
        channels: Sequence[str],
        received: Received,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Subscribe, before `running`: `recebida` gets the notifications of `canais`, and `on_connect` runs
        after every (re)connection's LISTENs."""
        self._received_ones.update(dict.fromkeys(channels, received))
        if on_connect is not None:
            self._on_connect.append(on_connect)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Listening]:
        """Listen in the background for the duration of the block."""
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Listen and reconnect, until cancelled."""
        while True:
            try:
                await self._session()
            except db.POSTGRES_ERRORS as exc:
                log.warning("%s lost (%s); reconnecting", self._description, exc or type(exc).__name__)
            except DatabaseUnavailable as exc:
                log.warning("%s: %s; retrying", self._description, exc)
            except Exception:  # whatever it was, the listener must come back rather than die quietly
                log.exception("%s failed; reconnecting", self._description)
            self.listening_now.clear()
            await asyncio.sleep(self._reconnect_s)

    async def _session(self) -> None:
        conn = await db.connect(self._dsn)
        fell: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finished(_conn: object) -> None:
            if not fell.done():
                fell.set_result(None)

        conn.add_termination_listener(finished)
        try:
            await conn.execute(f"SET application_name = '{self._session_name}'")
            for canal in self._received_ones:
                await conn.add_listener(canal, self._relay)
            self.pid = conn.get_server_pid()
            for on_connect in self._on_connect:
                await on_connect()
            self.connections += 1
            self.listening_now.set()
            log.info(
                "%s listening on %s (connection %d)",
                self._description,
                ", ".join(self._received_ones),
                self.connections,
            )
            while not fell.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fell), self._ping_s)
                if not fell.done():
                    await conn.fetchval("SELECT 1", timeout=self._ping_s)  # a silently dead socket
            raise OSError("listening connection closed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    def _relay(self, _conn: object, _pid: int, canal: str, payload: object) -> None:
        self._received_ones[canal](canal, str(payload))
