"""What every request passes before routing: its body capped, and /admin's token checked.

FastAPI reads and parses a route's body before it runs the route's dependencies, so a `require_admin`
dependency alone let anyone make `julia serve` read and parse any body on /admin; and nothing bounded a
body but the Evolution webhook's own reader. This ASGI middleware runs first, on the raw messages:

- a declared Content-Length over `max_bytes`: 413 at once, the body never read (and the connection closed,
  so the server does not read it to reuse the connection either);
- a body streamed without one (chunked): counted as the app reads it, and 413 the moment it goes over;
- a path under /admin: the admin token checked (julia.api.admin.admin_refusal) before the app sees the
  request, so an unauthenticated body is not even received;
- any answer given before its request's body was read to the end (a route's 401 or 404, say) closes the
  connection: uvicorn would otherwise read and discard the rest of the body to reuse it.

Written here rather than taken from a library: Starlette and uvicorn have no request-size limit, and the
small packages that add one do not know julia's admin token; this is the ASGI spec's two message types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from julia.api.admin import admin_refusal
from julia.settings import Settings


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body goes over the cap: an HTTPException, so FastAPI's body
    reader passes it on as it is (it turns other exceptions into a 400) and the app answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"body larger than {max_bytes} bytes")


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, 413, f"body larger than {self.max_bytes} bytes")
            return
        if scope["path"].startswith("/admin"):
            refusal = admin_refusal(self.settings, headers.get(b"authorization", b"").decode("latin-1"))
            if refusal is not None:
                await _refuse(send, refusal.status_code, refusal.detail, refusal.headers)
                return
        has_body = declared not in (b"", b"0") or b"transfer-encoding" in headers
        await self._capped(scope, receive, send, has_body=has_body)

    async def _capped(self, scope: Scope, receive: Receive, send: Send, *, has_body: bool) -> None:
        received = 0
        started = False
        body_read = not has_body

        async def capped_receive() -> Message:
            nonlocal received, body_read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
                body_read = not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body_read:
                    # Answered before the body was read to its end (a 401 or 404 that never needed it):
                    # close the connection, or the server would go on reading the rest to reuse it.
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, capped_receive, tracked_send)
        except BodyTooLarge as exc:  # read outside the routes' exception handling (a middleware, say)
            if started:
                raise
            await _refuse(send, exc.status_code, exc.detail)


async def _refuse(send: Send, status: int, detail: str, extra: Mapping[str, str] | None = None) -> None:
    """FastAPI's error shape ({"detail": ...}), and `connection: close`: what is left of the body is not
    read, so the connection cannot carry another request."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
