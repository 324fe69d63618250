"""Doctors through the cache: by phone (the first lookup of every inbound message) and by id.

Writes go through `atualizar_medico` / `trocar_telefone`, which commit in Postgres and then bump the
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

TIPO: Final = "medico"
CAMPOS_EDITAVEIS: Final = frozenset(
    {"telefone", "primeiro_nome", "sobrenome", "crm", "especialidade_id", "status", "tags", "preferencias"}
)

# clientes.Medico as a dict of its fields (julia/cache/codec.py: what Redis holds, read back).
CachedMedico = dict[str, Any]


async def medico_por_telefone(pool: asyncpg.Pool, cache: Cache, telefone: str) -> CachedMedico | None:
    """The doctor with this phone, or None (an unknown number is not cached: it may register any moment)."""

    async def carregar() -> CachedMedico | None:
        medico: CachedMedico | None = codec.plain(await clientes.buscar_medico_por_telefone(pool, telefone))
        return medico

    medico: CachedMedico | None = await cache.read(
        TIPO, keys.medico_por_telefone(telefone), cache.ttl_medico, carregar
    )
    return medico


async def medico_por_id(pool: asyncpg.Pool, cache: Cache, medico_id: int) -> CachedMedico | None:
    async def carregar() -> CachedMedico | None:
        medico: CachedMedico | None = codec.plain(await clientes.buscar_medico_por_id(pool, medico_id))
        return medico

    medico: CachedMedico | None = await cache.read(
        TIPO, keys.medico_por_id(medico_id), cache.ttl_medico, carregar
    )
    return medico


async def atualizar_medico(
    pool: asyncpg.Pool, cache: Cache, medico_id: int, alteracoes: Mapping[str, Any]
) -> CachedMedico | None:
    """Apply `alteracoes` (any of CAMPOS_EDITAVEIS) and invalidate; the updated doctor, or None if absent.

    Takes the pool, not a connection: the statement commits on its own, so the invalidation that follows
    really comes after the commit. Code that writes inside its own transaction calls
    `invalidar_medico` after committing instead.
    """
    desconhecidos = set(alteracoes) - CAMPOS_EDITAVEIS
    if desconhecidos:
        raise ValueError(f"fields a doctor update cannot change: {sorted(desconhecidos)}")
    row = await clientes.atualizar_medico(pool, medico_id, alteracoes)
    if row is None:
        return None
    medico: CachedMedico = codec.plain(row)
    anterior = medico.pop("telefone_anterior")
    await invalidar_medico(cache, medico_id, medico["telefone"], anterior)
    return medico


async def trocar_telefone(
    pool: asyncpg.Pool, cache: Cache, medico_id: int, telefone: str
) -> CachedMedico | None:
    """Move a doctor to a new phone; the old phone's entry is invalidated with the rest."""
    return await atualizar_medico(pool, cache, medico_id, {"telefone": telefone})


async def invalidar_medico(cache: Cache, medico_id: int, *telefones: str) -> None:
    """Forget everything cached about a doctor (by id, context, and each phone given). After commit."""
    await cache.invalidate(
        TIPO, keys.geracao_medico(medico_id), *(keys.geracao_telefone(t) for t in dict.fromkeys(telefones))
    )
