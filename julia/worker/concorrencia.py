"""How many doctors one worker process answers at once: an AIMD limit that follows what Claude allows.

Answering is I/O-bound (a Claude call takes seconds, julia's own work milliseconds), so the right number
of replies in flight is whatever Anthropic accepts, not a fixed slot count. The limit:

- grows by one per reply while it has never been pushed back ("slow start": it doubles every round of
  replies), then by 1/limit per reply (one per round), and only while the limit is actually used;
- halves on an overload signal (a 429 rate limit or a 529 overloaded), at most once per `recuo_s`:
  the replies in flight when Anthropic pushed back all fail together and are one signal, not many;
- shrinks by a tenth when the recent latency (a short moving average) is more than twice its
  long-run level: Claude queueing our calls is the earliest sign of a limit (at most once per `recuo_s`);
- stays within [1, MAX_WORKERS].

One doctor's messages stay in order whatever the limit: reivindicar_entradas only ever hands out a
doctor's oldest open message.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

INICIAL = 16  # replies in flight at start: 8 Claude calls a second at 2 s each, then slow start
SOBRECARGA = frozenset({429, 529})
RECUO_S = 2.0  # about one Claude round trip: one push-back per round, not one per reply in it
CURTA, LONGA = 0.2, 0.01  # weights of the latency moving averages: about 5 and 100 replies
LATENCIA_FATOR = 2.0  # recent latency this many times the long-run level: Claude is queueing us


class Concorrencia:
    def __init__(self, maximo: int, *, inicial: int = INICIAL, recuo_s: float = RECUO_S) -> None:
        self.maximo = maximo
        self.limite = float(min(maximo, inicial))
        self._recuo_s = recuo_s
        self._recuou_em = -float("inf")
        self._cresce_devagar = False  # after the first push-back: congestion avoidance
        self._em_curso = 0
        self._curta: float | None = None
        self._longa: float | None = None

    def livres(self, em_curso: int) -> int:
        """Replies the caller may start now, given `em_curso` in flight."""
        self._em_curso = em_curso
        return max(0, int(self.limite) - em_curso)

    def observar(self, duracao_s: float, status: int = 200) -> None:
        """One Claude call ended after `duracao_s` with HTTP `status` (0: no answer, a timeout)."""
        agora = time.monotonic()
        if status in SOBRECARGA:
            self._recuar(agora, 0.5, f"Claude answered {status}")
            return
        if status != 200:
            return  # a 500 or a timeout says nothing about how many calls Anthropic accepts
        self._curta = duracao_s if self._curta is None else self._curta + CURTA * (duracao_s - self._curta)
        self._longa = duracao_s if self._longa is None else self._longa + LONGA * (duracao_s - self._longa)
        if self._curta > LATENCIA_FATOR * self._longa:
            self._recuar(agora, 0.9, f"Claude latency {self._curta:.1f} s, usually {self._longa:.1f} s")
        elif self._em_curso + 1 >= int(self.limite):  # grow only a limit in use: idle is not proof
            passo = 1.0 / self.limite if self._cresce_devagar else 1.0
            self.limite = min(float(self.maximo), self.limite + passo)

    def _recuar(self, agora: float, fator: float, motivo: str) -> None:
        self._cresce_devagar = True
        if agora - self._recuou_em < self._recuo_s:
            return
        self._recuou_em = agora
        antes = self.limite
        self.limite = max(1.0, self.limite * fator)
        log.info("concurrency %d -> %d: %s", antes, self.limite, motivo)
