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

The connection and its reconnection are julia/escuta.py's (`escuta`: the worker's queues listen on the
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
from julia.cache.medicos import TIPO as MEDICO
from julia.cache.store import Cache
from julia.cache.vagas import TIPO as VAGAS
from julia.escuta import Escuta

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
        self._cache = cache
        # The process's one listening connection; others subscribe to it before `rodando` (the worker's
        # queues, julia/worker/despertador.py).
        self.escuta = Escuta(
            dsn, nome_sessao=NOME_SESSAO, descricao="change feed", reconectar_s=reconectar_s, ping_s=ping_s
        )
        self.escuta.ouvir((CANAL,), self._recebida, ao_conectar=self._esvaziar_ou_falhar)
        self.escutando = self.escuta.escutando  # set while LISTEN is in place and the flush is done
        self._fila: asyncio.Queue[str] = asyncio.Queue()

    @property
    def conexoes(self) -> int:
        """Successful (re)connections, flush included."""
        return self.escuta.conexoes

    @property
    def pid(self) -> int | None:
        """The listening backend (tests terminate it)."""
        return self.escuta.pid

    @contextlib.asynccontextmanager
    async def rodando(self) -> AsyncIterator[Ouvinte]:
        """Listen and apply in the background for the duration of the block."""
        aplicador = asyncio.create_task(self._aplicar_fila())
        try:
            async with self.escuta.rodando():
                yield self
        finally:
            aplicador.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await aplicador

    async def _esvaziar_ou_falhar(self) -> None:
        if not await self.esvaziar():
            raise OSError("Redis did not take the flush")  # try the whole connection again shortly

    def _recebida(self, _canal: str, payload: str) -> None:
        self._fila.put_nowait(payload)

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
            await self._cache.invalidate(
                VAGAS, *(keys.geracao_vagas(int(e)) for e in mudanca["especialidades"])
            )
        else:
            medicos = mudanca["medicos"]
            await self._cache.invalidate(
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
        return all([await self._cache.forget(tipo, padrao) for padrao in PADROES[tabela]])
