"""Open shifts of a specialty through the cache (TTL CACHE_TTL_VAGAS), and the writes that change them.

Every list of a specialty (any date, any limit) shares one generation, so creating a shift or changing
a shift's status invalidates all of them with one O(1) write, whichever limit each caller asked for.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final

import asyncpg

from julia.cache import codec, keys
from julia.cache.store import Cache
from julia.clock import today
from julia.data import vagas as dados

KIND: Final = "vagas"

# vagas.OpenVaga (a list) or vagas.Vaga (a write) as a dict of its fields (julia/cache/codec.py).
CachedVaga = dict[str, Any]


async def open_vagas(
    pool: asyncpg.Pool,
    cache: Cache,
    especialidade_id: int,
    limit: int = 10,
    desde: dt.date | None = None,
    *,
    estado: str | None = None,
    cidade: str | None = None,
) -> list[CachedVaga]:
    """Open shifts not yet started from `desde` (today in São Paulo; never earlier) on, soonest first, as
    the data layer returns them; only in `estado` / `cidade` when given. A list cached a few seconds before
    a shift starts may still hold it, for at most CACHE_TTL_VAGAS: reservar_vaga refuses a started shift
    whatever the list said."""
    inicio = max(desde or today(), today())

    async def load() -> list[CachedVaga]:
        linhas = await dados.buscar_vagas(pool, especialidade_id, inicio, limit, estado=estado, cidade=cidade)
        return [codec.plain(row) for row in linhas]

    key = keys.vagas(especialidade_id, inicio, limit, estado=estado, cidade=cidade)
    vagas: list[CachedVaga] = await cache.read(KIND, key, cache.ttl_vagas, load)
    return vagas


async def criar_vaga(
    pool: asyncpg.Pool,
    cache: Cache,
    *,
    hospital_id: int,
    especialidade_id: int,
    periodo_id: int,
    data_plantao: dt.date,
    valor: Decimal,
) -> CachedVaga:
    """Insert an open shift (committed before the cache is told) and return it."""
    row = await dados.criar_vaga(pool, hospital_id, especialidade_id, periodo_id, data_plantao, valor)
    await invalidate_vagas(cache, especialidade_id)
    vaga: CachedVaga = codec.plain(row)
    return vaga


async def mudar_status_vaga(
    pool: asyncpg.Pool, cache: Cache, vaga_id: int, status: str, *, de: str | None = None
) -> CachedVaga | None:
    """Set a shift's status (aberta, reservada, preenchida, cancelada); None if absent or, with `de`,
    if its status was no longer `de` (someone else reserved it first)."""
    row = await dados.mudar_status_vaga(pool, vaga_id, status, de)
    if row is None:
        return None
    await invalidate_vagas(cache, row.especialidade_id)
    vaga: CachedVaga = codec.plain(row)
    return vaga


async def invalidate_vagas(cache: Cache, especialidade_id: int) -> None:
    """Forget every cached shift list of a specialty. After commit."""
    await cache.invalidate(KIND, keys.vagas_generation(especialidade_id))
