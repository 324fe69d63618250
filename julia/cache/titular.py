"""A data subject's (titular's) keys in Redis, for the LGPD export and erasure (julia/services/lgpd.py).

julia keeps a person's data in Redis only under keys that name them: the cache's `{tel:+55...}`
namespace (their doctor by phone) and `{medico:ID}` namespace (their doctor by id, their conversation
context), julia/cache/keys.py, which names every key julia writes. Everything else there names no one:
the send pause (julia/services/pausa.py), Evolution's rate limiter (julia/worker/taxa.py), the alerts'
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

SCAN_PASSO = 1000  # keys per SCAN round trip


def _alvo(telefone: str, medico_id: int | None) -> re.Pattern[bytes]:
    """The phone's digits anywhere in a key (with or without its `+`), or `medico:ID` / `cliente:ID` as a
    whole segment (`medico:12` must not find `medico:123`)."""
    partes = [re.escape(telefone.lstrip("+"))]
    if medico_id is not None:
        partes.append(rf"(?:medico|cliente):{medico_id}(?![0-9])")
    return re.compile("|".join(partes).encode())


async def chaves_do_titular(redis: aioredis.Redis, telefone: str, medico_id: int | None) -> list[bytes]:
    """Every key naming the person, under any prefix."""
    alvo = _alvo(telefone, medico_id)
    return [chave async for chave in redis.scan_iter(count=SCAN_PASSO) if alvo.search(chave)]


async def exportar(redis: aioredis.Redis, chaves: list[bytes]) -> dict[str, Any]:
    """{key: value} for the export, values as text whatever their type (a key that expired meanwhile is
    left out)."""
    valores: dict[str, Any] = {}
    for chave in chaves:
        valor = await _ler(redis, chave)
        if valor is not None:
            valores[chave.decode(errors="replace")] = valor
    return valores


async def apagar(redis: aioredis.Redis, chaves: list[bytes]) -> int:
    """The keys unlinked (freed off Redis's main thread); how many still existed."""
    apagadas = 0
    for inicio in range(0, len(chaves), SCAN_PASSO):
        apagadas += int(await redis.unlink(*chaves[inicio : inicio + SCAN_PASSO]))
    return apagadas


def _texto(valor: bytes | str) -> str:
    return valor.decode(errors="replace") if isinstance(valor, bytes) else valor


async def _ler(redis: aioredis.Redis, chave: bytes) -> Any:
    tipo = _texto(await redis.type(chave))
    if tipo == "string":
        bruto = await redis.get(chave)
        return None if bruto is None else _texto(bruto)
    if tipo == "hash":
        return {_texto(k): _texto(v) for k, v in (await redis.hgetall(chave)).items()}
    if tipo == "list":
        return [_texto(v) for v in await redis.lrange(chave, 0, -1)]
    if tipo == "set":
        return sorted(_texto(v) for v in await redis.smembers(chave))
    if tipo == "zset":  # julia's alerts keep sorted sets; the members are what could name someone
        membros: list[Any] = await redis.zrange(chave, 0, -1)
        return [_texto(m) for m in membros]
    if tipo == "stream":
        entradas: Any = await redis.xrange(chave)
        return [repr(entrada) for entrada in entradas or []]
    return None  # "none": it expired between the SCAN and now
