"""The three lookups of the hot path that a cache may front, each ONE function so that wiring the cache
in is a one-line change here: the doctor by phone, a specialty's open shifts, a doctor's static context.
Each takes the pool (never a transaction's connection) and returns plain dicts, the shape
julia.cache returns. Control of a conversation (julia or humano) is deliberately not here: it is always
read fresh."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from julia.data import clientes, vagas
from julia.queries import sql

VAGAS_NO_CONTEXTO = 5


async def medico_por_telefone(pool: asyncpg.Pool, telefone: str) -> dict[str, Any] | None:
    linha = await clientes.buscar_medico_por_telefone(pool, telefone)
    return dict(linha) if linha is not None else None


async def vagas_abertas(pool: asyncpg.Pool, especialidade_id: int) -> list[dict[str, Any]]:
    linhas = await vagas.buscar_vagas(pool, especialidade_id, dt.date.today(), VAGAS_NO_CONTEXTO)
    return [dict(linha) for linha in linhas]


async def contexto_estatico(pool: asyncpg.Pool, cliente_id: int) -> dict[str, Any] | None:
    """The doctor and their specialty's name: what changes rarely and every reply needs."""
    linha = await pool.fetchrow(sql("contexto_medico"), cliente_id)
    return dict(linha) if linha is not None else None
