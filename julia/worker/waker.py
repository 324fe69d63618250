"""The queues' wake-up: the process's listening connection (julia/listening.py, the one the cache's change
feed runs) also LISTENs on every queue's table channel (the trigger of migrations/0007_filas_avisos.sql)
and sets the queue's `wakeup` when its table got rows. A row is claimed as soon as it is committed, and a
lost notification (the listener was reconnecting) costs at most one poll interval
(julia/services/queues.py `Queue.idle`). The worker's, not the data layer's: listening is how a worker
waits, not how a table is read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from julia.listening import Listening
from julia.services.queues import Queue


class Waker:
    def __init__(self, listening: Listening, queues: Sequence[Queue[Any]]) -> None:
        """Subscribes to `listening` (before it runs) for as long as the listener lives."""
        self._queues = {queue.table: queue for queue in queues}
        self.listening = listening
        listening.subscribe(list(self._queues), self._received, on_connect=self._wake_all)

    def _received(self, canal: str, _payload: str) -> None:
        self._queues[canal].wakeup.set()

    async def _wake_all(self) -> None:
        # Rows committed while nobody listened: claimed now rather than at the next poll.
        for queue in self._queues.values():
            queue.wakeup.set()
