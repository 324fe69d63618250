"""julia's outbound HTTP is httpx2 (the library the Anthropic SDK uses); respx, which these tests use to
speak for Evolution, Chatwoot, Slack and Anthropic in their wire formats, patches httpx only. This
transport hands an httpx2 request to a respx router as an httpx request and its answer back, so every
mocked service is written once, in respx, whatever client julia uses."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import respx


class RespxBridge(httpx2.AsyncBaseTransport):
    def __init__(self, router: respx.MockRouter) -> None:
        self._router = router

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pedido = httpx.Request(
            request.method, str(request.url), headers=list(request.headers.raw), content=await request.aread()
        )
        try:
            resposta = await self._router.async_handler(pedido)
        except httpx.TransportError as exc:
            # The same failure on the other side (ConnectError, ReadTimeout, PoolTimeout...): julia tells a
            # send that never left from one whose outcome is unknown by the exception's class.
            kind = getattr(httpx2, type(exc).__name__, httpx2.TransportError)
            raise kind(str(exc), request=request) from exc
        return httpx2.Response(
            resposta.status_code, headers=list(resposta.headers.raw), content=resposta.content
        )


def cliente(router: respx.MockRouter, **options: Any) -> httpx2.AsyncClient:
    """The client julia gets in a test: its requests answered by `router`'s routes."""
    return httpx2.AsyncClient(transport=RespxBridge(router), **options)
