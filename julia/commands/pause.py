"""`julia pause-sending`, `julia resume-sending`, `julia sending-status`: the stop of the WhatsApp send
(julia/services/pause.py): a person's own stop, and lifting any stop (a person's, WhatsApp disconnected,
campaigns paused by failed deliveries). They act on the REDIS_URL the workers use, so it must be set:
pausing a Redis started just for the command would stop nothing."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from julia.errors import JuliaError
from julia.services import pause
from julia.settings import Settings


def register(sub: Any) -> None:
    pause: argparse.ArgumentParser = sub.add_parser(
        "pause-sending",
        help="emergency stop: workers stop sending WhatsApp messages; the queue waits intact",
    )
    pause.add_argument("--reason", default="emergency stop", help="kept with the flag, shown by the status")
    pause.set_defaults(run=lambda args: _run(lambda r: _pause(r, args.reason)))
    resume = sub.add_parser(
        "resume-sending",
        help="lift every stop (yours, WhatsApp disconnected, campaigns paused): workers send the queue again",
    )
    resume.set_defaults(run=lambda args: _run(_resume))
    status = sub.add_parser("sending-status", help="is sending paused? (exit 0 either way)")
    status.set_defaults(run=lambda args: _run(_state))


def _run(acao: Callable[[aioredis.Redis], Awaitable[str]]) -> int:
    settings = Settings()
    settings.require("redis_url")
    assert settings.redis_url is not None
    print(asyncio.run(_com_redis(settings.redis_url, acao)))
    return 0


async def _com_redis(url: str, acao: Callable[[aioredis.Redis], Awaitable[str]]) -> str:
    redis = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await acao(redis)
    except (RedisError, OSError) as exc:
        raise JuliaError(f"cannot reach Redis at REDIS_URL: {exc}") from exc
    finally:
        await redis.aclose()


async def _pause(redis: aioredis.Redis, motivo: str) -> str:
    return (await pause.pause(redis, motivo)).linha()


async def _resume(redis: aioredis.Redis) -> str:
    causas = await pause.resume(redis)
    if not causas:
        return "sending: running (it was not paused)"
    return f"sending: running (resumed; lifted: {', '.join(causas)})"


async def _state(redis: aioredis.Redis) -> str:
    return (await pause.estado(redis)).linha()
