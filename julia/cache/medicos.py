"""Doctors through the cache: by phone (the first lookup of every inbound message) and by id.

Writes go through `atualizar_medico` / `change_phone`, which commit in Postgres and then bump the
generations of every namespace the row was visible under: its id (which also governs its static
context), its current phone and, when the phone changed, the old one, so the old number stops resolving
to this doctor at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import asyncpg

from julia.cache import codec, keys
from julia.cache.store import Cache
from julia.data import clientes

KIND: Final = "medico"
EDITABLE_FIELDS: Final = frozenset(
    {"telefone", "primeiro_nome", "sobrenome", "crm", "especialidade_id", "status", "tags", "preferencias"}
)

# clientes.Medico as a dict of its fields (julia/cache/codec.py: what Redis holds, read back).
CachedMedico = dict[str, Any]


async def medico_by_phone(pool: asyncpg.Pool, cache: Cache, telefone: str) -> CachedMedico | None:
    """The doctor with this phone, or None (an unknown number is not cached: it may register any moment)."""

    async def load() -> CachedMedico | None:
        medico: CachedMedico | None = codec.plain(await clientes.buscar_medico_por_telefone(pool, telefone))
        return medico

    medico: CachedMedico | None = await cache.read(
        KIND, keys.medico_by_phone(telefone), cache.ttl_medico, load
    )
    return medico


async def medico_by_id(pool: asyncpg.Pool, cache: Cache, medico_id: int) -> CachedMedico | None:
    async def load() -> CachedMedico | None:
        medico: CachedMedico | None = codec.plain(await clientes.buscar_medico_por_id(pool, medico_id))
        return medico

    medico: CachedMedico | None = await cache.read(KIND, keys.medico_by_id(medico_id), cache.ttl_medico, load)
    return medico


async def atualizar_medico(
    pool: asyncpg.Pool, cache: Cache, medico_id: int, changes: Mapping[str, Any]
) -> CachedMedico | None:
    """Apply `changes` (any of CAMPOS_EDITAVEIS) and invalidate; the updated doctor, or None if absent.

    Takes the pool, not a connection: the statement commits on its own, so the invalidation that follows
    really comes after the commit. Code that writes inside its own transaction calls
    `invalidate_medico` after committing instead.
    """
    unknown_ones = set(changes) - EDITABLE_FIELDS
    if unknown_ones:
        raise ValueError(f"fields a doctor update cannot change: {sorted(unknown_ones)}")
    row = await clientes.atualizar_medico(pool, medico_id, changes)
    if row is None:
        return None
    medico: CachedMedico = codec.plain(row)
    anterior = medico.pop("telefone_anterior")
    await invalidate_medico(cache, medico_id, medico["telefone"], anterior)
    return medico


async def change_phone(
    pool: asyncpg.Pool, cache: Cache, medico_id: int, telefone: str
) -> CachedMedico | None:
    """Move a doctor to a new phone; the old phone's entry is invalidated with the rest."""
    return await atualizar_medico(pool, cache, medico_id, {"telefone": telefone})


async def invalidate_medico(cache: Cache, medico_id: int, *phones: str) -> None:
    """Forget everything cached about a doctor (by id, context, and each phone given). After commit."""
    await cache.invalidate(
        KIND, keys.medico_generation(medico_id), *(keys.phone_generation(t) for t in dict.fromkeys(phones))
    )
