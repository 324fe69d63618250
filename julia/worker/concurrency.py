"""How many doctors one worker process answers at once: an AIMD limit that follows what Claude allows.

Answering is I/O-bound (a Claude call takes seconds, julia's own work milliseconds), so the right number
of replies in flight is whatever Anthropic accepts, not a fixed slot count. The limit:

- grows by one per reply while it has never been pushed back ("slow start": it doubles every round of
  replies), then by 1/limit per reply (one per round), and only while the limit is actually used;
- halves on an overload signal (a 429 rate limit or a 529 overloaded), at most once per `backoff_s`:
  the replies in flight when Anthropic pushed back all fail together and are one signal, not many;
- shrinks by a tenth when the recent latency (the median of the last JANELA replies) is more than twice
  its long-run level (a slow average of its logarithm: about the median): Claude queueing our calls is the
  earliest sign of a limit (at most once per `backoff_s`). Medians, because Claude's latency is heavy-tailed:
  a 5-reply moving average against a plain mean, as this was first built, read ordinary draws (median 2 s,
  p99 8 s) as queueing in most runs and left the limit crawling up by one per round from then on (a
  10,000-doctor storm held 16-45 calls in flight for its first 85 s); and a level that started at the
  first reply's latency did the same in about 1 run in 13 (the likely cause of a capacity storm held at
  28-34 calls in flight while 70 messages waited). tests/unit/test_concurrency.py holds this rule to
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

INITIAL = 16  # replies in flight at start: 8 Claude calls a second at 2 s each, then slow start
OVERLOAD = frozenset({429, 529})
BACKOFF_S = 2.0  # about one Claude round trip: one push-back per round, not one per reply in it
WINDOW = 20  # recent replies whose median is the recent latency
LONG = 0.01  # weight of the long-run level's moving average: about 100 replies
WARM_UP = 50  # replies before the long-run level is trusted as a level (and the window full: >= JANELA)
LATENCY_FACTOR = 2.0  # recent latency this many times the long-run level: Claude is queueing us


class Concurrency:
    def __init__(self, maximum: int, *, initial: int = INITIAL, backoff_s: float = BACKOFF_S) -> None:
        self.maximum = maximum
        self.limit = float(min(maximum, initial))
        self._backoff_s = backoff_s
        self._backed_off_at = -float("inf")
        self._grows_slowly = False  # after the first push-back: congestion avoidance
        self._in_progress = 0
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self._long_log: float | None = None  # moving average of log(latency)
        self._vistas = 0

    def free_ones(self, in_progress: int) -> int:
        """Replies the caller may start now, given `in_progress` in flight."""
        self._in_progress = in_progress
        return max(0, int(self.limit) - in_progress)

    def watch(self, duration_s: float, status: int = 200) -> None:
        """One Claude call ended after `duration_s` with HTTP `status` (0: no answer, a timeout)."""
        now = time.monotonic()
        if status in OVERLOAD:
            self._back_off(now, 0.5, f"Claude answered {status}")
            return
        if status != 200:
            return  # a 500 or a timeout says nothing about how many calls Anthropic accepts
        if self._enqueuing(duration_s):
            recent, usual = statistics.median(self._recent), math.exp(self._long_log or 0.0)
            self._back_off(now, 0.9, f"Claude latency {recent:.1f} s (median), usually {usual:.1f} s")
        elif self._in_progress + 1 >= int(self.limit):  # grow only a limit in use: idle is not proof
            step = 1.0 / self.limit if self._grows_slowly else 1.0
            self.limit = min(float(self.maximum), self.limit + step)

    def _enqueuing(self, duration_s: float) -> bool:
        """Whether the recent latency says Claude is queueing our calls."""
        x = math.log(max(duration_s, 1e-3))
        self._vistas += 1
        # The plain mean of the replies seen until there are 1/LONGA of them, a moving average after: a
        # level started at the first reply and moved 1% a reply still weighed that one reply 60% when
        # the warm-up ended, so a fast first draw read ordinary latencies as queueing (simulated: 31 of
        # 400 runs of Claude's median 2 s / p99 8 s pushed back at their 50th reply; none this way).
        peso = max(LONG, 1.0 / self._vistas)
        self._long_log = x if self._long_log is None else self._long_log + peso * (x - self._long_log)
        self._recent.append(duration_s)
        if self._vistas < WARM_UP:
            return False
        return statistics.median(self._recent) > LATENCY_FACTOR * math.exp(self._long_log)

    def _back_off(self, now: float, factor: float, motivo: str) -> None:
        self._grows_slowly = True
        if now - self._backed_off_at < self._backoff_s:
            return
        self._backed_off_at = now
        antes = self.limit
        self.limit = max(1.0, self.limit * factor)
        # A warning: the storm's and production's logs (WARNING and up) then say when and why the worker
        # answered fewer doctors at once (a back-off read from heavy-tailed latencies, not from Claude,
        # is the likely cause of a capacity storm that failed on 2026-12-07 with nothing in its logs).
        log.warning("concurrency %d -> %d: %s", antes, self.limit, motivo)
