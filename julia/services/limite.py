"""How many messages a minute one WhatsApp number gets answered by Claude (INBOUND_PER_MINUTE), and how
much of a message is kept (INBOUND_MAX_CHARS): any number can write, and each answered message is Claude
calls, so without them a few numbers could run up the Anthropic bill and fill the organisation's rate
limit, and every doctor's reply would then wait in 429 backoff.

Checked at the webhook, which stores every message either way (a 2xx is a stored message): the count is
one Redis round trip (INCR and EXPIRE pipelined) on a per-number, per-minute key, a fixed window, so a
number may get up to twice the limit across a minute's edge; a sliding window would cost a sorted set and
more commands per message for no difference that matters to the bill. Redis unavailable: answered (fail
open, as the cache); the limit protects the bill, never the doctors' messages.
"""

from __future__ import annotations

import time

from julia.cache import Cache
from julia.metrics import metrics

PREFIX = "julia:limite:minuto"
JANELA_S = 60
MARCA_CORTE = "…"


def cortar(texto: str, max_chars: int) -> str:
    """The text as julia keeps and sends it to Claude: at most `max_chars` characters, a cut one ending in
    "…" so that Claude (and a person reading it) sees it was cut."""
    return texto if len(texto) <= max_chars else texto[: max_chars - len(MARCA_CORTE)] + MARCA_CORTE


async def responder(cache: Cache, telefone: str, por_minuto: int) -> bool:
    """Count this message of `telefone`; False when it is over `por_minuto` in the current minute."""
    minuto = int(time.time() // JANELA_S)
    # Twice the window: the key outlives its minute, never the next one's count.
    contagem = await cache.contar(f"{PREFIX}:{telefone}:{minuto}", 2 * JANELA_S)
    if contagem is None or contagem <= por_minuto:
        return True
    metrics.count("entradas_acima_do_limite")
    return False
