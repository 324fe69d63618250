"""Waiting in tests for what happens asynchronously (a listener's feed, a reconnection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def ate(condicao: Callable[[], Awaitable[bool]], limite_s: float = 10.0) -> None:
    """Poll until `condicao` holds; fail after `limite_s`."""
    fim = time.monotonic() + limite_s
    while not await condicao():
        if time.monotonic() > fim:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
