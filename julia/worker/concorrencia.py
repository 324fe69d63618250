"""How many doctors one worker process answers at once: an AIMD limit that follows what Claude allows.

Answering is I/O-bound (a Claude call takes seconds, julia's own work milliseconds), so the right number
of replies in flight is whatever Anthropic accepts, not a fixed slot count. The limit:

- grows by one per reply while it has never been pushed back ("slow start": it doubles every round of
  replies), then by 1/limit per reply (one per round), and only while the limit is actually used;
- halves on an overload signal (a 429 rate limit or a 529 overloaded), at most once per `recuo_s`:
  the replies in flight when Anthropic pushed back all fail together and are one signal, not many;
- shrinks by a tenth when the recent latency (the median of the last JANELA replies) is more than twice
  its long-run level (a slow average of its logarithm: about the median): Claude queueing our calls is the
  earliest sign of a limit (at most once per `recuo_s`). Medians, because Claude's latency is heavy-tailed:
  a 5-reply moving average against a plain mean, as this was first built, read ordinary draws (median 2 s,
  p99 8 s) as queueing in most runs and left the limit crawling up by one per round from then on (a
  10,000-doctor storm held 16-45 calls in flight for its first 85 s); and a level that started at the
  first reply's latency did the same in about 1 run in 13 (the likely cause of a capacity storm held at
  28-34 calls in flight while 70 messages waited). tests/unit/test_concorrencia.py holds this rule to
  its rates on simulated runs;
- stays within [1, MAX_WORKERS].

One doctor's messages stay in order whatever the limit: reivindicar_entradas only ever hands out a
doctor's oldest open message.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections import deque

log = logging.getLogger(__name__)

INICIAL = 16  # replies in flight at start: 8 Claude calls a second at 2 s each, then slow start
SOBRECARGA = frozenset({429, 529})
RECUO_S = 2.0  # about one Claude round trip: one push-back per round, not one per reply in it
JANELA = 20  # recent replies whose median is the recent latency
LONGA = 0.01  # weight of the long-run level's moving average: about 100 replies
AQUECER = 50  # replies before the long-run level is trusted as a level (and the window full: >= JANELA)
LATENCIA_FATOR = 2.0  # recent latency this many times the long-run level: Claude is queueing us


class Concorrencia:
    def __init__(self, maximo: int, *, inicial: int = INICIAL, recuo_s: float = RECUO_S) -> None:
        self.maximo = maximo
        self.limite = float(min(maximo, inicial))
        self._recuo_s = recuo_s
        self._recuou_em = -float("inf")
        self._cresce_devagar = False  # after the first push-back: congestion avoidance
        self._em_curso = 0
        self._recentes: deque[float] = deque(maxlen=JANELA)
        self._longa_log: float | None = None  # moving average of log(latency)
        self._vistas = 0

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
        if self._enfileirando(duracao_s):
            recente, usual = statistics.median(self._recentes), math.exp(self._longa_log or 0.0)
            self._recuar(agora, 0.9, f"Claude latency {recente:.1f} s (median), usually {usual:.1f} s")
        elif self._em_curso + 1 >= int(self.limite):  # grow only a limit in use: idle is not proof
            passo = 1.0 / self.limite if self._cresce_devagar else 1.0
            self.limite = min(float(self.maximo), self.limite + passo)

    def _enfileirando(self, duracao_s: float) -> bool:
        """Whether the recent latency says Claude is queueing our calls."""
        x = math.log(max(duracao_s, 1e-3))
        self._vistas += 1
        # The plain mean of the replies seen until there are 1/LONGA of them, a moving average after: a
        # level started at the first reply and moved 1% a reply still weighed that one reply 60% when
        # the warm-up ended, so a fast first draw read ordinary latencies as queueing (simulated: 31 of
        # 400 runs of Claude's median 2 s / p99 8 s pushed back at their 50th reply; none this way).
        peso = max(LONGA, 1.0 / self._vistas)
        self._longa_log = x if self._longa_log is None else self._longa_log + peso * (x - self._longa_log)
        self._recentes.append(duracao_s)
        if self._vistas < AQUECER:
            return False
        return statistics.median(self._recentes) > LATENCIA_FATOR * math.exp(self._longa_log)

    def _recuar(self, agora: float, fator: float, motivo: str) -> None:
        self._cresce_devagar = True
        if agora - self._recuou_em < self._recuo_s:
            return
        self._recuou_em = agora
        antes = self.limite
        self.limite = max(1.0, self.limite * fator)
        # A warning: the storm's and production's logs (WARNING and up) then say when and why the worker
        # answered fewer doctors at once (a back-off read from heavy-tailed latencies, not from Claude,
        # is the likely cause of a capacity storm that failed on 2026-12-07 with nothing in its logs).
        log.warning("concurrency %d -> %d: %s", antes, self.limite, motivo)
