"""The process's outbound HTTP client (Evolution, Chatwoot, Slack) and what its failures mean.

The client speaks httpx2's API over aiohttp's transport: measured at 0.3-0.5 ms of CPU per request
against 0.8-1.1 ms for httpx2's own (httpcore2 on anyio), 3,000 POSTs at 32-64 in flight on this 2-core
machine; a reply costs five or six such calls (docs/capacity.md).
"""

from __future__ import annotations

import aiohttp
import httpx2
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

TIMEOUT_S = 15.0
# aiohttp's connector has no separate keep-alive count, and without a bound it allows 100: the open
# connections per process, enough for serve's alerts and mirrors. A worker passes its own bound.
CONNECTIONS_MAX = 200


def cliente_http(connections_max: int = CONNECTIONS_MAX) -> httpx2.AsyncClient:
    """A new client; the caller closes it (`async with`, or `aclose()`)."""
    return Httpx2AiohttpClient(
        timeout=httpx2.Timeout(TIMEOUT_S), limits=httpx2.Limits(max_connections=connections_max)
    )


def nothing_left(exc: httpx2.HTTPError) -> bool:
    """True when the request never reached the server (no connection was made), so sending it again
    cannot deliver it twice. The aiohttp transport maps a dropped or reset connection to httpx2's
    ConnectTimeout, though the request may have been written: its cause tells the two apart."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
    return isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout))
