"""Calibration floors, measured in the same run as everything else: the least each server can do over
the connection kind julia uses. Every other timing is divided by its floor; that ratio, not the absolute
time, is what is compared across runs and machines. The Postgres floors (floor_pg_select1, and its cold
twin) are measured interleaved with the queries they divide, in test_queries.py.

floor_redis_get         GET of a 64-byte value, redis.asyncio + hiredis over julia's REDIS_URL (cache hits)
floor_http_empty        GET of an empty ASGI app served by uvicorn in a subprocess, via httpx (webhooks)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as aioredis
from redis.utils import HIREDIS_AVAILABLE

from julia.perf.context import PROJECT, Perf
from julia.perf.engine import native, placement
from julia.perf.engine.results import Bench

WARMUP = 200
HTTP_SAMPLES = 1000
SERVER_START_S = 15.0


async def test_floor_redis_get(perf: Perf) -> None:
    client = aioredis.Redis.from_url(perf.services.redis_url)
    try:
        await client.set("julia:perf:floor", b"x" * 64)
        measured = await perf.measure(
            lambda i: client.get("julia:perf:floor"),
            samples=perf.samples,
            warmup=WARMUP,
            label="floor_redis_get",
        )
        # Still inside this side's last turn: the C client on the same GET, for the harness's share.
        native_ms = native.valkey_cli_get_mean_ms(perf.services.redis_url, "julia:perf:floor")
        await client.delete("julia:perf:floor")
    finally:
        await client.aclose()
    transport = perf.services.redis_url.split(":", 1)[0]
    perf.run.add(
        Bench(
            "floor_redis_get",
            "floor",
            None,
            measured.samples_ms,
            {
                "hiredis": HIREDIS_AVAILABLE,
                "transport": transport,
                "native_client": "valkey-cli -r",
                "native_ms": native_ms,
            },
            blocks=measured.blocks,
            rounds=measured.rounds,
        )
    )


async def test_floor_http_empty(perf: Perf) -> None:
    async with _empty_server() as url, httpx.AsyncClient(base_url=url) as client:
        measured = await perf.measure(
            lambda i: client.get("/"),
            samples=HTTP_SAMPLES,
            warmup=WARMUP,
            label="floor_http_empty",
        )
    perf.run.add(
        Bench(
            "floor_http_empty",
            "floor",
            None,
            measured.samples_ms,
            {"server": "uvicorn subprocess", "client": "httpx"},
            blocks=measured.blocks,
            rounds=measured.rounds,
        )
    )


@contextlib.asynccontextmanager
async def _empty_server() -> AsyncIterator[str]:
    """uvicorn in its own process (as in production, the server does not share the client's loop)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "julia.perf.empty_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
    )
    placement.release(proc.pid, PROJECT.variables)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(url)
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def _wait_until_up(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(int(SERVER_START_S / 0.05)):
            with contextlib.suppress(httpx.TransportError):
                await client.get("/")
                return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the empty HTTP server did not answer at {url} within {SERVER_START_S:g} s")
