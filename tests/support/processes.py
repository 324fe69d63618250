"""julia's commands as real processes in tests: started with their output in a file, a free loopback port
to give `julia serve`, the wait until it answers, and the stop that never leaves one running."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

JULIA = [sys.executable, "-m", "julia"]


def start_julia(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`julia *args`, its output to `log`: a file, not a pipe, so a chatty process never blocks on it."""
    with log.open("wb") as output:
        return subprocess.Popen([*JULIA, *args], env=env, stdout=output, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], limit_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `limit_s`; nothing if it already exited."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
