"""The static part of a conversation's context (the doctor and their specialty's name), cached per doctor.

History and shifts are not here: they change with every message and the caller reads them fresh (shifts
through `open_vagas`, with their own short TTL). The entry shares the doctor-id generation, so any
doctor write (name, status, specialty, phone...) invalidates it.
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from julia.cache import codec, keys
from julia.cache.store import Cache
from julia.data.clientes import carregar_contexto_estatico

KIND: Final = "contexto"

# clientes.MedicoContext as a dict of its fields (julia/cache/codec.py: what Redis holds, read back).
CachedContext = dict[str, Any]


async def static_context(pool: asyncpg.Pool, cache: Cache, medico_id: int) -> CachedContext | None:
    """The doctor's columns plus `especialidade` (its name, None without one); None for an unknown id.

    Built from Postgres by id, never from a doctor dict the caller holds: that dict may predate a write
    whose invalidation this entry must not outlive.
    """

    async def load() -> CachedContext | None:
        context: CachedContext | None = codec.plain(await carregar_contexto_estatico(pool, medico_id))
        return context

    context: CachedContext | None = await cache.read(KIND, keys.context(medico_id), cache.context_ttl, load)
    return context
