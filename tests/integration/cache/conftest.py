"""Cache test fixtures: a Cache per test (fresh counters), and rows made for each test then removed."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia.cache import Cache
from tests.support.cache import cache_de

_numbers = itertools.count(1)


@pytest.fixture
async def cache(redis: aioredis.Redis) -> Cache:
    # Redis is one database for the whole session, and other tests' processes cache doctors of their own
    # databases there under the same ids: a doctor made here could find a stranger's entry (a hit where
    # the test counts a miss). These tests count hits and misses, so each starts from an empty Redis.
    await redis.flushdb()
    return cache_de(redis)


@dataclass
class Factory:
    """Creates the rows a test needs with plain SQL in the shared test database; `clear` removes them."""

    pool: asyncpg.Pool
    especialidades: list[int] = field(default_factory=list)
    hospitais: list[int] = field(default_factory=list)
    periodos: list[int] = field(default_factory=list)
    medicos: list[int] = field(default_factory=list)

    async def especialidade(self) -> int:
        id_: int = await self.pool.fetchval(
            "INSERT INTO especialidades (nome) VALUES ($1) RETURNING id", f"cache-esp-{next(_numbers)}"
        )
        self.especialidades.append(id_)
        return id_

    async def medico(self, especialidade_id: int | None = None) -> dict[str, Any]:
        n = next(_numbers)
        row = await self.pool.fetchrow(
            "INSERT INTO clientes (telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags,"
            " preferencias) VALUES ($1, 'Ana', 'Souza', $2, $3, 'ativo', ARRAY['cardio'], $4)"
            " RETURNING id, telefone, crm",
            telefone(),
            f"CRM-{n}",
            especialidade_id,
            {"turno": "noite"},
        )
        assert row is not None
        self.medicos.append(row["id"])
        return dict(row)

    async def vaga(self, especialidade_id: int, days: int = 1, valor: str = "1500.00") -> int:
        if not self.hospitais:
            self.hospitais.append(
                await self.pool.fetchval(
                    "INSERT INTO hospitais (nome, cidade, estado) VALUES ('Hospital Cache', 'Santos', 'SP')"
                    " RETURNING id"
                )
            )
            self.periodos.append(
                await self.pool.fetchval(
                    "INSERT INTO periodos (nome, hora_inicio, hora_fim) VALUES ($1, '19:00', '07:00')"
                    " RETURNING id",
                    f"cache-noturno-{next(_numbers)}",
                )
            )
        id_: int = await self.pool.fetchval(
            "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            self.hospitais[0],
            especialidade_id,
            self.periodos[0],
            dt.date.today() + dt.timedelta(days=days),
            Decimal(valor),
        )
        return id_

    async def clear(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # Shifts first: one may be held by a doctor made here (vagas.cliente_id).
            await conn.execute(
                "DELETE FROM vagas WHERE especialidade_id = ANY($1::bigint[])", self.especialidades
            )
            await conn.execute("DELETE FROM clientes WHERE id = ANY($1::bigint[])", self.medicos)
            await conn.execute("DELETE FROM periodos WHERE id = ANY($1::bigint[])", self.periodos)
            await conn.execute("DELETE FROM hospitais WHERE id = ANY($1::bigint[])", self.hospitais)
            await conn.execute("DELETE FROM especialidades WHERE id = ANY($1::bigint[])", self.especialidades)


def telefone() -> str:
    return f"+55119{next(_numbers):08d}"


@pytest.fixture
async def factory(pool: asyncpg.Pool) -> AsyncIterator[Factory]:
    made = Factory(pool)
    yield made
    await made.clear()
