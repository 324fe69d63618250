"""`julia serve` and the fakes as real processes on loopback: a free port to give one, and the wait until
`julia serve` answers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick), for a server the test starts on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until_serving(
    client: httpx.AsyncClient,
    serve: subprocess.Popen[bytes],
    limit_s: float,
    output: Callable[[], str] | None = None,
) -> None:
    """Until `julia serve` (it migrates, then binds) answers `client`'s GET /health with 200; fail if it
    exits first, with `output()` (its log) in the message, or after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while True:
        assert serve.poll() is None, "julia serve exited" + (":\n" + output() if output else "")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "julia serve did not start"
        await asyncio.sleep(0.1)
