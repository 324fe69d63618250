"""Waiting in tests for what happens asynchronously (a listener's feed, a reconnection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def ate(condition: Callable[[], Awaitable[bool]], limit_s: float = 10.0) -> None:
    """Poll until `condicao` holds; fail after `limit_s`."""
    end = time.monotonic() + limit_s
    while not await condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
