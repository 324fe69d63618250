"""The queues' wake-up: the process's listening connection (julia/escuta.py, the one the cache's change
feed runs) also LISTENs on every queue's table channel (the trigger of migrations/0007_filas_avisos.sql)
and sets the queue's `wakeup` when its table got rows. A row is claimed as soon as it is committed, and a
lost notification (the listener was reconnecting) costs at most one poll interval
(julia/services/queues.py `Queue.idle`). The worker's, not the data layer's: listening is how a worker
waits, not how a table is read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from julia.escuta import Escuta
from julia.services.queues import Queue


class Despertador:
    def __init__(self, escuta: Escuta, filas: Sequence[Queue[Any]]) -> None:
        """Subscribes to `escuta` (before it runs) for as long as the listener lives."""
        self._filas = {fila.table: fila for fila in filas}
        self.escuta = escuta
        escuta.ouvir(list(self._filas), self._recebida, ao_conectar=self._acordar_todas)

    def _recebida(self, canal: str, _payload: str) -> None:
        self._filas[canal].wakeup.set()

    async def _acordar_todas(self) -> None:
        # Rows committed while nobody listened: claimed now rather than at the next poll.
        for fila in self._filas.values():
            fila.wakeup.set()
