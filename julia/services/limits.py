"""How many messages one WhatsApp number gets answered by Claude, a minute (INBOUND_PER_MINUTE) and a day
(INBOUND_PER_DAY), and how much of a message is kept (INBOUND_MAX_CHARS): any number can write, and each
answered message is Claude calls, so without them a few numbers could run up the Anthropic bill and fill
the organisation's rate limit, and every doctor's reply would then wait in 429 backoff. The minute stops a
burst; the day stops a number that stays just under the minute's limit for hours (10 a minute is 14,400 a
day).

Checked at the webhook, which stores every message either way (a 2xx is a stored message): both counts are
one Redis round trip (one pipeline: INCR and EXPIRE on a per-number, per-minute key and on a per-number,
per-day key), fixed windows, so a number may get up to twice a limit across a window's edge; a sliding
window would cost a sorted set and more commands per message for no difference that matters to the bill.
The day is São Paulo's (julia.clock), the doctors' and the operators' day. Redis unavailable: answered
(fail open, as the cache); the limit protects the bill, never the doctors' messages.

The count has a deadline of its own, PRAZO_S, and is tried even while the cache's breaker skips Redis:
under the cache's 50 ms (CACHE_TIMEOUT_MS) a flood's own load made the count time out, the breaker then
skipped Redis for a second, and the limit failed open for exactly the flood it is for (the fault suite's
flood, tests/faults/test_flood.py: 59 of 60 messages from one number answered by Claude with a limit
of 5). A Redis that answers within PRAZO_S counts; one that refuses the connection fails at once; only a
hung Redis costs each webhook up to PRAZO_S before it is answered anyway.
"""

from __future__ import annotations

import time

from julia import clock
from julia.cache import Cache
from julia.cache.keys import INBOUND_PER_DAY, INBOUND_PER_MINUTE
from julia.metrics import metrics

WINDOW_S = 60
DAY_S = 86_400
CUT_MARK = "…"
DEADLINE_S = 1.0


def trim(texto: str, max_chars: int) -> str:
    """The text as julia keeps and sends it to Claude: at most `max_chars` characters, a cut one ending in
    "…" so that Claude (and a person reading it) sees it was cut."""
    return texto if len(texto) <= max_chars else texto[: max_chars - len(CUT_MARK)] + CUT_MARK


async def reply(cache: Cache, telefone: str, por_minuto: int, per_day: int) -> bool:
    """Count this message of `telefone`; False when it is over `por_minuto` in the current minute or over
    `per_day` in the current day."""
    minute = int(time.time() // WINDOW_S)
    # Twice the window: a key outlives its window, never the next one's count.
    tallies = await cache.count(
        (f"{INBOUND_PER_MINUTE}:{telefone}:{minute}", 2 * WINDOW_S),
        (f"{INBOUND_PER_DAY}:{telefone}:{clock.today().isoformat()}", 2 * DAY_S),
        deadline_s=DEADLINE_S,
    )
    if tallies is None:
        return True
    in_minute, on_day = tallies
    if in_minute <= por_minuto and on_day <= per_day:
        return True
    metrics.count("entradas_acima_do_limite")
    return False
