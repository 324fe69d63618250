"""The change feed: every julia process keeps one dedicated Postgres connection LISTENing on
`julia_cache` (the triggers of migrations/0005_reservas.sql), and invalidates what the change makes
stale, whoever wrote it: julia itself, the business's own tools, a person in psql. A statement that
changes up to 200 doctors announces them in parts of at most 100 (migrations/0019: a NOTIFY payload stays
under 8000 bytes), each applied on its own; more than 200, `todos`.

Notifications are delivered only to a connection listening when they are committed, so whenever the
connection is (re)established, the affected cache kinds are flushed whole AFTER the LISTEN is in place:
a change committed before is caught by the flush, one committed after by a notification. The flush
deletes the generation keys (a value whose generation is gone is never served, keys.py), found with
SCAN: slow on a big keyspace but it never blocks Redis, and it runs only at (re)connection.

The connection and its reconnection are julia/listening.py's (`listening`: the worker's queues listen on the
same connection); the process keeps serving while it is down (writes through julia still invalidate
directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from julia.cache import keys
from julia.cache.medicos import KIND as MEDICO
from julia.cache.store import Cache
from julia.cache.vagas import KIND as VAGAS
from julia.listening import Listening

log = logging.getLogger(__name__)

CANAL: Final = "julia_cache"
SESSION_NAME: Final = "julia-ouvinte"
# What a full flush forgets, per table of the feed: the generation keys of its namespaces.
PATTERNS: Final = {
    "vagas": (keys.generations_pattern("vagas"),),
    "clientes": (keys.generations_pattern("medico"), keys.generations_pattern("tel")),
}


class Listener:
    def __init__(self, dsn: str, cache: Cache, *, reconnect_s: float = 1.0, ping_s: float = 10.0) -> None:
        self._cache = cache
        # The process's one listening connection; others subscribe to it before `running` (the worker's
        # queues, julia/worker/waker.py).
        self.listening = Listening(
            dsn, session_name=SESSION_NAME, description="change feed", reconnect_s=reconnect_s, ping_s=ping_s
        )
        self.listening.subscribe((CANAL,), self._received, on_connect=self._drain_or_fail)
        self.listening_now = (
            self.listening.listening_now
        )  # set while LISTEN is in place and the flush is done
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    @property
    def connections(self) -> int:
        """Successful (re)connections, flush included."""
        return self.listening.connections

    @property
    def pid(self) -> int | None:
        """The listening backend (tests terminate it)."""
        return self.listening.pid

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Listener]:
        """Listen and apply in the background for the duration of the block."""
        applier = asyncio.create_task(self._apply_queue())
        try:
            async with self.listening.running():
                yield self
        finally:
            applier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await applier

    async def _drain_or_fail(self) -> None:
        if not await self.drain_out():
            raise OSError("Redis did not take the flush")  # try the whole connection again shortly

    def _received(self, _canal: str, payload: str) -> None:
        self._queue.put_nowait(payload)

    async def _apply_queue(self) -> None:
        while True:
            payload = await self._queue.get()
            try:
                await self.apply(payload)
            except Exception:  # one bad message must not stop the feed
                log.exception("cache change feed: cannot apply %r", payload[:200])

    async def apply(self, payload: str) -> None:
        """Invalidate what one notification names (the Cache never raises: a Redis outage keeps the
        bumps and replays them)."""
        change: dict[str, Any] = json.loads(payload)
        tabela = change.get("tabela")
        if tabela not in PATTERNS:
            log.warning("cache change feed: unknown table in %r", payload[:200])
            return
        if change.get("todos"):
            await self._empty_table(tabela)
        elif tabela == "vagas":
            await self._cache.invalidate(
                VAGAS, *(keys.vagas_generation(int(e)) for e in change["especialidades"])
            )
        else:
            medicos = change["medicos"]
            await self._cache.invalidate(
                MEDICO,
                *(keys.medico_generation(int(m["id"])) for m in medicos),
                *(keys.phone_generation(str(m["telefone"])) for m in medicos),
            )

    async def drain_out(self) -> bool:
        """Forget every cached doctor, context and shift list; False when Redis did not answer."""
        results = [await self._empty_table(tabela) for tabela in PATTERNS]
        return all(results)

    async def _empty_table(self, tabela: str) -> bool:
        kind = VAGAS if tabela == "vagas" else MEDICO
        return all([await self._cache.forget(kind, default) for default in PATTERNS[tabela]])
