"""Reservation fixtures: the service database (emptied per test, tests/service/conftest.py) with a
specialty, a hospital, a period and doctors made for each test, and a Cache with a generous timeout."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from julia.cache import Cache
from julia.clock import today
from julia.services import avisos, reservas
from tests.support.cache import cache_de

_numbers = itertools.count(1)
OPEN_MAX = 3  # settings.reservas_abertas_max's default


@dataclass
class Scenario:
    pool: asyncpg.Pool
    especialidade: int
    other_especialidade: int
    hospital: int
    periodo: int

    async def medico(self, especialidade: int | None = None, nome: str = "Ana") -> int:
        id_: int = await self.pool.fetchval(
            "INSERT INTO clientes (telefone, primeiro_nome, sobrenome, crm, especialidade_id, status)"
            " VALUES ($1, $2, 'Souza', 'CRM/SP 123456', $3, 'ativo') RETURNING id",
            f"+55119{next(_numbers):08d}",
            nome,
            self.especialidade if especialidade is None else especialidade,
        )
        return id_

    async def medicos(self, n: int) -> list[int]:
        rows = await self.pool.fetch(
            "INSERT INTO clientes (telefone, primeiro_nome, crm, especialidade_id, status)"
            " SELECT '+55118' || lpad(($1 + g)::text, 8, '0'), 'Médico ' || g, 'CRM/SP ' || (100000 + g), $2,"
            " 'ativo'"
            " FROM generate_series(1, $3) g RETURNING id",
            next(_numbers) * 100_000,
            self.especialidade,
            n,
        )
        return [r["id"] for r in rows]

    async def vaga(
        self,
        days: int = 1,
        especialidade: int | None = None,
        valor: str = "1500.00",
        periodo: int | None = None,
    ) -> int:
        """A shift `dias` after today in São Paulo (the Noturno 19:00-07:00 period unless told)."""
        id_: int = await self.pool.fetchval(
            "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            self.hospital,
            self.especialidade if especialidade is None else especialidade,
            self.periodo if periodo is None else periodo,
            today() + dt.timedelta(days=days),
            Decimal(valor),
        )
        return id_

    async def other_period(self, inicio: str, end: str) -> int:
        id_: int = await self.pool.fetchval(
            "INSERT INTO periodos (nome, hora_inicio, hora_fim) VALUES ($1, $2::time, $3::time) RETURNING id",
            f"{inicio}-{end} {next(_numbers)}",
            dt.time.fromisoformat(inicio),
            dt.time.fromisoformat(end),
        )
        return id_


@pytest.fixture
async def scenario(pool: asyncpg.Pool) -> Scenario:
    async def um(sql: str, *args: object) -> int:
        id_: int = await pool.fetchval(sql, *args)
        return id_

    n = next(_numbers)
    return Scenario(
        pool,
        await um("INSERT INTO especialidades (nome) VALUES ($1) RETURNING id", f"Cardiologia {n}"),
        await um("INSERT INTO especialidades (nome) VALUES ($1) RETURNING id", f"Pediatria {n}"),
        await um(
            "INSERT INTO hospitais (nome, cidade, estado) VALUES ('Hospital Santa Luzia', 'Campinas', 'SP')"
            " RETURNING id"
        ),
        await um(
            "INSERT INTO periodos (nome, hora_inicio, hora_fim) VALUES ($1, '19:00', '07:00') RETURNING id",
            f"Noturno {n}",
        ),
    )


@pytest.fixture
def cache(redis: aioredis.Redis) -> Cache:
    return cache_de(redis)


async def reservada(cache: Cache, scenario: Scenario, days: int = 2) -> tuple[int, int]:
    """A shift `dias` ahead reserved by a new doctor: (shift, doctor)."""
    vaga, medico = await scenario.vaga(days=days), await scenario.medico()
    assert (await reservas.reserve(scenario.pool, cache, medico, vaga, abertas_max=OPEN_MAX)).nova
    return vaga, medico


async def avisos_de(db: asyncpg.Pool, medico: int) -> list[str]:
    """The notices queued for a doctor (julia/services/avisos.py), oldest first."""
    linhas = await db.fetch(
        "SELECT conteudo FROM fila_mensagens WHERE cliente_id = $1 AND prioridade = $2 ORDER BY id",
        medico,
        avisos.PRIORITY_AVISO,
    )
    return [r["conteudo"] for r in linhas]
