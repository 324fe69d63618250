"""The change feed: every julia process keeps one dedicated Postgres connection LISTENing on
`julia_cache` (the triggers of migrations/0005_reservas.sql), and invalidates what the change makes
stale, whoever wrote it: julia itself, the business's own tools, a person in psql.

Notifications are delivered only to a connection listening when they are committed, so whenever the
connection is (re)established, the affected cache kinds are flushed whole AFTER the LISTEN is in place:
a change committed before is caught by the flush, one committed after by a notification. The flush
deletes the generation keys (a value whose generation is gone is never served, keys.py), found with
SCAN: slow on a big keyspace but it never blocks Redis, and it runs only at (re)connection.

A dropped connection (Postgres restart, failover, pg_terminate_backend) is noticed through asyncpg's
termination callback, or by a periodic ping when the socket dies silently, and re-established with a
short backoff; the process keeps serving meanwhile (writes through julia still invalidate directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import asyncpg

from julia import db
from julia.cache import keys
from julia.cache.medicos import TIPO as MEDICO
from julia.cache.store import Cache
from julia.cache.vagas import TIPO as VAGAS
from julia.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CANAL: Final = "julia_cache"
NOME_SESSAO: Final = "julia-ouvinte"
# What a full flush forgets, per table of the feed: the generation keys of its namespaces.
PADROES: Final = {
    "vagas": (keys.padrao_geracoes("vagas"),),
    "clientes": (keys.padrao_geracoes("medico"), keys.padrao_geracoes("tel")),
}


class Ouvinte:
    def __init__(self, dsn: str, cache: Cache, *, reconectar_s: float = 1.0, ping_s: float = 10.0) -> None:
        self._dsn = dsn
        self._cache = cache
        self._reconectar_s = reconectar_s
        self._ping_s = ping_s
        self.escutando = asyncio.Event()  # set while LISTEN is in place and the flush is done
        self.conexoes = 0  # successful (re)connections, flush included
        self.pid: int | None = None  # the listening backend (tests terminate it)
        self._fila: asyncio.Queue[str] = asyncio.Queue()

    @contextlib.asynccontextmanager
    async def rodando(self) -> AsyncIterator[Ouvinte]:
        """Listen in the background for the duration of the block."""
        tarefa = asyncio.create_task(self.rodar())
        try:
            yield self
        finally:
            tarefa.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tarefa

    async def rodar(self) -> None:
        """Listen, apply, reconnect; until cancelled."""
        aplicador = asyncio.create_task(self._aplicar_fila())
        try:
            while True:
                try:
                    await self._sessao()
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cache change feed lost (%s); reconnecting", exc or type(exc).__name__)
                except DatabaseUnavailable as exc:
                    log.warning("cache change feed: %s; retrying", exc)
                except Exception:  # whatever it was, the feed must come back rather than die quietly
                    log.exception("cache change feed failed; reconnecting")
                self.escutando.clear()
                await asyncio.sleep(self._reconectar_s)
        finally:
            aplicador.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await aplicador

    async def _sessao(self) -> None:
        conn = await db.connect(self._dsn)
        caiu: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def terminou(_conn: object) -> None:
            if not caiu.done():
                caiu.set_result(None)

        conn.add_termination_listener(terminou)
        try:
            await conn.execute(f"SET application_name = '{NOME_SESSAO}'")  # findable in pg_stat_activity
            await conn.add_listener(CANAL, self._recebida)
            self.pid = conn.get_server_pid()
            if not await self.esvaziar():
                raise OSError("Redis did not take the flush")  # try the whole thing again shortly
            self.conexoes += 1
            self.escutando.set()
            log.info("cache change feed listening on %s (connection %d)", CANAL, self.conexoes)
            while not caiu.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(caiu), self._ping_s)
                if not caiu.done():
                    await conn.fetchval("SELECT 1", timeout=self._ping_s)  # a silently dead socket
            raise OSError("listening connection closed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    def _recebida(self, _conn: object, _pid: int, _canal: str, payload: object) -> None:
        self._fila.put_nowait(str(payload))

    async def _aplicar_fila(self) -> None:
        while True:
            payload = await self._fila.get()
            try:
                await self.aplicar(payload)
            except Exception:  # one bad message must not stop the feed
                log.exception("cache change feed: cannot apply %r", payload[:200])

    async def aplicar(self, payload: str) -> None:
        """Invalidate what one notification names (the Cache never raises: a Redis outage keeps the
        bumps and replays them)."""
        mudanca: dict[str, Any] = json.loads(payload)
        tabela = mudanca.get("tabela")
        if tabela not in PADROES:
            log.warning("cache change feed: unknown table in %r", payload[:200])
            return
        if mudanca.get("todos"):
            await self._esvaziar_tabela(tabela)
        elif tabela == "vagas":
            await self._cache.invalidar(
                VAGAS, *(keys.geracao_vagas(int(e)) for e in mudanca["especialidades"])
            )
        else:
            medicos = mudanca["medicos"]
            await self._cache.invalidar(
                MEDICO,
                *(keys.geracao_medico(int(m["id"])) for m in medicos),
                *(keys.geracao_telefone(str(m["telefone"])) for m in medicos),
            )

    async def esvaziar(self) -> bool:
        """Forget every cached doctor, context and shift list; False when Redis did not answer."""
        resultados = [await self._esvaziar_tabela(tabela) for tabela in PADROES]
        return all(resultados)

    async def _esvaziar_tabela(self, tabela: str) -> bool:
        tipo = VAGAS if tabela == "vagas" else MEDICO
        return all([await self._cache.esquecer(tipo, padrao) for padrao in PADROES[tabela]])
