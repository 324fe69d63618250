"""A write through julia's own functions is never followed by a stale read, on every write path."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from julia.cache import (
    Cache,
    atualizar_medico,
    change_phone,
    codec,
    criar_vaga,
    medico_by_id,
    medico_by_phone,
    mudar_status_vaga,
    open_vagas,
    static_context,
)
from julia.clock import today
from julia.data.clientes import buscar_medico_por_id, buscar_medico_por_telefone, carregar_contexto_estatico
from julia.data.vagas import buscar_vagas
from julia.queries import sql
from tests.integration.cache.conftest import Factory, telefone


async def test_a_hit_returns_exactly_what_the_miss_returned(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    esp = await factory.especialidade()
    medico = await factory.medico(esp)
    await factory.vaga(esp)

    for read in (
        lambda: medico_by_phone(pool, cache, medico["telefone"]),
        lambda: medico_by_id(pool, cache, medico["id"]),
        lambda: open_vagas(pool, cache, esp),
        lambda: static_context(pool, cache, medico["id"]),
    ):
        assert await read() == await read()
    assert {kind: (s["hits"], s["misses"]) for kind, s in cache.counts().items()} == {
        "medico": (2, 2),
        "vagas": (1, 1),
        "contexto": (1, 1),
        "geral": (0, 0),
    }

    # Equal to the uncached data layer's rows, types included (a hit and a miss alike).
    assert await open_vagas(pool, cache, esp) == [asdict(r) for r in await buscar_vagas(pool, esp)]
    from_db = await buscar_medico_por_id(pool, medico["id"])
    assert from_db is not None
    assert await medico_by_id(pool, cache, medico["id"]) == asdict(from_db)
    [vaga] = await open_vagas(pool, cache, esp)
    assert vaga["valor"] == Decimal("1500.00")  # the data layer's types, from Redis as from Postgres
    assert vaga["data_plantao"] == dt.date.today() + dt.timedelta(days=1)
    assert (vaga["hora_inicio"], vaga["hora_fim"]) == (dt.time(19), dt.time(7))
    nome = await pool.fetchval("SELECT nome FROM especialidades WHERE id = $1", esp)
    assert await static_context(pool, cache, medico["id"]) == {
        "id": medico["id"],
        "telefone": medico["telefone"],
        "primeiro_nome": "Ana",
        "sobrenome": "Souza",
        "crm": medico["crm"],
        "especialidade_id": esp,
        "status": "ativo",
        "tags": ["cardio"],
        "preferencias": {"turno": "noite"},
        "especialidade": nome,
    }


async def test_a_record_is_cached_as_the_bytes_its_asyncpg_row_was(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    """The data layer's records replaced asyncpg.Record: what the cache writes for one is byte for byte
    what it wrote for the row, so entries cached before still read, under the same key generation."""
    esp = await factory.especialidade()
    medico = await factory.medico(esp)
    await factory.vaga(esp)
    phone, medico_id = medico["telefone"], medico["id"]
    pairs: list[tuple[object, Any]] = [
        (
            await buscar_medico_por_telefone(pool, phone),
            await pool.fetchrow(sql("buscar_medico_por_telefone"), phone),
        ),
        (
            await buscar_medico_por_id(pool, medico_id),
            await pool.fetchrow(sql("buscar_medico_por_id"), medico_id),
        ),
        (
            await carregar_contexto_estatico(pool, medico_id),
            await pool.fetchrow(sql("carregar_contexto_estatico"), medico_id),
        ),
        (await buscar_vagas(pool, esp), await pool.fetch(sql("buscar_vagas"), esp, today(), 10, None, None)),
    ]
    for record, row in pairs:
        assert row
        # What codec.plain made of an asyncpg.Record: its items, in column order.
        as_written = [dict(r) for r in row] if isinstance(row, list) else dict(row)
        assert codec.encode(codec.plain(record)) == codec.encode(codec.plain(as_written))


async def test_updating_a_doctor_is_seen_at_once_by_phone_by_id_and_in_the_context(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    esp, other = await factory.especialidade(), await factory.especialidade()
    medico = await factory.medico(esp)
    for _ in range(2):  # the second round is served from Redis
        await medico_by_phone(pool, cache, medico["telefone"])
        await medico_by_id(pool, cache, medico["id"])
        await static_context(pool, cache, medico["id"])
    assert cache.counts()["medico"]["hits"] == 2

    changes = {
        "primeiro_nome": "Beatriz",
        "sobrenome": None,
        "status": "inativo",
        "tags": ["pediatria", "vip"],
        "preferencias": {"turno": "dia"},
        "especialidade_id": other,
    }
    atualizado = await atualizar_medico(pool, cache, medico["id"], changes)

    assert atualizado is not None
    assert {k: atualizado[k] for k in changes} == changes
    assert await medico_by_phone(pool, cache, medico["telefone"]) == atualizado
    assert await medico_by_id(pool, cache, medico["id"]) == atualizado
    context = await static_context(pool, cache, medico["id"])
    assert context is not None
    assert (context["primeiro_nome"], context["especialidade_id"]) == ("Beatriz", other)


async def test_changing_a_phone_drops_the_old_number_at_once(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    medico = await factory.medico()
    older, new = medico["telefone"], telefone()
    for _ in range(2):
        assert (await medico_by_phone(pool, cache, older) or {}).get("id") == medico["id"]
        await medico_by_id(pool, cache, medico["id"])
    assert await medico_by_phone(pool, cache, new) is None

    await change_phone(pool, cache, medico["id"], new)

    assert await medico_by_phone(pool, cache, older) is None
    assert (await medico_by_phone(pool, cache, new) or {}).get("id") == medico["id"]
    assert (await medico_by_id(pool, cache, medico["id"]) or {}).get("telefone") == new


async def test_every_shift_write_is_seen_at_once_by_every_cached_list_of_the_specialty(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    esp = await factory.especialidade()
    vaga_id = await factory.vaga(esp)

    async def abertas(limit: int) -> list[int]:
        return [v["id"] for v in await open_vagas(pool, cache, esp, limit)]

    for limit in (5, 10, 5, 10):  # two cached lists, each read twice
        assert await abertas(limit) == [vaga_id]
    assert cache.counts()["vagas"]["hits"] == 2

    medico = await factory.medico(esp)
    for status, expected in (
        ("cancelada", []),
        ("aberta", [vaga_id]),
        ("reservada", []),  # held by a doctor: written straight in SQL below, then changed through julia
        ("preenchida", []),
        ("aberta", [vaga_id]),
        ("cancelada", []),
    ):
        if status == "reservada":
            await pool.execute(
                "UPDATE vagas SET status = 'reservada', cliente_id = $2, reservada_em = now() WHERE id = $1",
                vaga_id,
                medico["id"],
            )
            continue
        assert (await mudar_status_vaga(pool, cache, vaga_id, status) or {}).get("status") == status
        assert await abertas(5) == expected
        assert await abertas(10) == expected
    # Reopened, the shift let its doctor go.
    assert await pool.fetchval("SELECT cliente_id FROM vagas WHERE id = $1", vaga_id) is None

    nova = await criar_vaga(
        pool,
        cache,
        hospital_id=factory.hospitais[0],
        especialidade_id=esp,
        periodo_id=factory.periodos[0],
        # Tomorrow: a shift of today whose period has begun (in São Paulo) is no longer open, so a
        # shift of today would leave the list empty from the period's start on, in the evening's runs.
        data_plantao=dt.date.today() + dt.timedelta(days=1),
        valor=Decimal("2100.50"),
    )
    assert nova["valor"] == Decimal("2100.50")
    assert await abertas(5) == [nova["id"]]
    assert await abertas(10) == [nova["id"]]


async def test_changing_a_status_someone_else_changed_first_changes_nothing(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    esp = await factory.especialidade()
    vaga_id = await factory.vaga(esp)
    assert await mudar_status_vaga(pool, cache, vaga_id, "cancelada", de="aberta") is not None
    assert await mudar_status_vaga(pool, cache, vaga_id, "cancelada", de="aberta") is None
    assert await mudar_status_vaga(pool, cache, -1, "aberta") is None


async def test_a_doctor_update_refuses_fields_it_does_not_know(
    pool: asyncpg.Pool, cache: Cache, factory: Factory
) -> None:
    medico = await factory.medico()
    with pytest.raises(ValueError, match="created_at"):
        await atualizar_medico(pool, cache, medico["id"], {"created_at": "2020-01-01"})
    assert await atualizar_medico(pool, cache, -1, {"status": "ativo"}) is None
