"""A data subject's (titular's) keys in Redis, for the LGPD export and erasure (julia/services/lgpd.py).

julia keeps a person's data in Redis only under keys that name them: the cache's `{tel:+55...}`
namespace (their doctor by phone) and `{medico:ID}` namespace (their doctor by id, their conversation
context), julia/cache/keys.py, which names every key julia writes. Everything else there names no one:
the send pause (julia/services/pause.py), Evolution's rate limiter (julia/worker/rate.py), the alerts'
state (julia/alerts.py), the shift lists (`{vagas:ID}`, open shifts only: no doctor). A key added later that
holds a person's data must name them the same way, by phone digits or by `medico:ID` / `cliente:ID`:
this module finds keys by that, under any prefix, so a new kind of key is covered without a change here.

The keys are found with SCAN (bounded steps that never block Redis, unlike KEYS), one walk of the whole
keyspace per request: seconds with a million keys, for a request that comes a few times a day.
"""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio as aioredis

SCAN_STEP = 1000  # keys per SCAN round trip


def _target(telefone: str, medico_id: int | None) -> re.Pattern[bytes]:
    """The phone's digits anywhere in a key (with or without its `+`), or `medico:ID` / `cliente:ID` as a
    whole segment (`medico:12` must not find `medico:123`)."""
    parts = [re.escape(telefone.lstrip("+"))]
    if medico_id is not None:
        parts.append(rf"(?:medico|cliente):{medico_id}(?![0-9])")
    return re.compile("|".join(parts).encode())


async def titular_keys(redis: aioredis.Redis, telefone: str, medico_id: int | None) -> list[bytes]:
    """Every key naming the person, under any prefix."""
    alvo = _target(telefone, medico_id)
    return [key async for key in redis.scan_iter(count=SCAN_STEP) if alvo.search(key)]


async def export(redis: aioredis.Redis, keys: list[bytes]) -> dict[str, Any]:
    """{key: value} for the export, values as text whatever their type (a key that expired meanwhile is
    left out)."""
    values: dict[str, Any] = {}
    for key in keys:
        valor = await _read(redis, key)
        if valor is not None:
            values[key.decode(errors="replace")] = valor
    return values


async def apagar(redis: aioredis.Redis, keys: list[bytes]) -> int:
    """The keys unlinked (freed off Redis's main thread); how many still existed."""
    erased = 0
    for inicio in range(0, len(keys), SCAN_STEP):
        erased += int(await redis.unlink(*keys[inicio : inicio + SCAN_STEP]))
    return erased


def _text(valor: bytes | str) -> str:
    return valor.decode(errors="replace") if isinstance(valor, bytes) else valor


async def _read(redis: aioredis.Redis, key: bytes) -> Any:
    kind = _text(await redis.type(key))
    if kind == "string":
        raw = await redis.get(key)
        return None if raw is None else _text(raw)
    if kind == "hash":
        return {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
    if kind == "list":
        return [_text(v) for v in await redis.lrange(key, 0, -1)]
    if kind == "set":
        return sorted(_text(v) for v in await redis.smembers(key))
    if kind == "zset":  # julia's alerts keep sorted sets; the members are what could name someone
        members: list[Any] = await redis.zrange(key, 0, -1)
        return [_text(m) for m in members]
    if kind == "stream":
        entradas: Any = await redis.xrange(key)
        return [repr(entrada) for entrada in entradas or []]
    return None  # "none": it expired between the SCAN and now
