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
    codec,
    contexto_estatico,
    criar_vaga,
    medico_por_id,
    medico_por_telefone,
    mudar_status_vaga,
    trocar_telefone,
    vagas_abertas,
)
from julia.data.clientes import buscar_medico_por_id, buscar_medico_por_telefone, carregar_contexto_estatico
from julia.data.vagas import buscar_vagas
from julia.queries import sql
from julia.relogio import hoje
from tests.integration.cache.conftest import Fabrica, telefone


async def test_a_hit_returns_exactly_what_the_miss_returned(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    esp = await fabrica.especialidade()
    medico = await fabrica.medico(esp)
    await fabrica.vaga(esp)

    for read in (
        lambda: medico_por_telefone(pool, cache, medico["telefone"]),
        lambda: medico_por_id(pool, cache, medico["id"]),
        lambda: vagas_abertas(pool, cache, esp),
        lambda: contexto_estatico(pool, cache, medico["id"]),
    ):
        assert await read() == await read()
    assert {kind: (s["hits"], s["misses"]) for kind, s in cache.counts().items()} == {
        "medico": (2, 2),
        "vagas": (1, 1),
        "contexto": (1, 1),
        "geral": (0, 0),
    }

    # Equal to the uncached data layer's rows, types included (a hit and a miss alike).
    assert await vagas_abertas(pool, cache, esp) == [asdict(r) for r in await buscar_vagas(pool, esp)]
    from_db = await buscar_medico_por_id(pool, medico["id"])
    assert from_db is not None
    assert await medico_por_id(pool, cache, medico["id"]) == asdict(from_db)
    [vaga] = await vagas_abertas(pool, cache, esp)
    assert vaga["valor"] == Decimal("1500.00")  # the data layer's types, from Redis as from Postgres
    assert vaga["data_plantao"] == dt.date.today() + dt.timedelta(days=1)
    assert (vaga["hora_inicio"], vaga["hora_fim"]) == (dt.time(19), dt.time(7))
    nome = await pool.fetchval("SELECT nome FROM especialidades WHERE id = $1", esp)
    assert await contexto_estatico(pool, cache, medico["id"]) == {
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
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    """The data layer's records replaced asyncpg.Record: what the cache writes for one is byte for byte
    what it wrote for the row, so entries cached before still read, under the same key generation."""
    esp = await fabrica.especialidade()
    medico = await fabrica.medico(esp)
    await fabrica.vaga(esp)
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
        (await buscar_vagas(pool, esp), await pool.fetch(sql("buscar_vagas"), esp, hoje(), 10, None, None)),
    ]
    for record, row in pairs:
        assert row
        # What codec.plain made of an asyncpg.Record: its items, in column order.
        as_written = [dict(r) for r in row] if isinstance(row, list) else dict(row)
        assert codec.codificar(codec.plain(record)) == codec.codificar(codec.plain(as_written))


async def test_updating_a_doctor_is_seen_at_once_by_phone_by_id_and_in_the_context(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    esp, outra = await fabrica.especialidade(), await fabrica.especialidade()
    medico = await fabrica.medico(esp)
    for _ in range(2):  # the second round is served from Redis
        await medico_por_telefone(pool, cache, medico["telefone"])
        await medico_por_id(pool, cache, medico["id"])
        await contexto_estatico(pool, cache, medico["id"])
    assert cache.counts()["medico"]["hits"] == 2

    alteracoes = {
        "primeiro_nome": "Beatriz",
        "sobrenome": None,
        "status": "inativo",
        "tags": ["pediatria", "vip"],
        "preferencias": {"turno": "dia"},
        "especialidade_id": outra,
    }
    atualizado = await atualizar_medico(pool, cache, medico["id"], alteracoes)

    assert atualizado is not None
    assert {k: atualizado[k] for k in alteracoes} == alteracoes
    assert await medico_por_telefone(pool, cache, medico["telefone"]) == atualizado
    assert await medico_por_id(pool, cache, medico["id"]) == atualizado
    contexto = await contexto_estatico(pool, cache, medico["id"])
    assert contexto is not None
    assert (contexto["primeiro_nome"], contexto["especialidade_id"]) == ("Beatriz", outra)


async def test_changing_a_phone_drops_the_old_number_at_once(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    medico = await fabrica.medico()
    antigo, novo = medico["telefone"], telefone()
    for _ in range(2):
        assert (await medico_por_telefone(pool, cache, antigo) or {}).get("id") == medico["id"]
        await medico_por_id(pool, cache, medico["id"])
    assert await medico_por_telefone(pool, cache, novo) is None

    await trocar_telefone(pool, cache, medico["id"], novo)

    assert await medico_por_telefone(pool, cache, antigo) is None
    assert (await medico_por_telefone(pool, cache, novo) or {}).get("id") == medico["id"]
    assert (await medico_por_id(pool, cache, medico["id"]) or {}).get("telefone") == novo


async def test_every_shift_write_is_seen_at_once_by_every_cached_list_of_the_specialty(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    esp = await fabrica.especialidade()
    vaga_id = await fabrica.vaga(esp)

    async def abertas(limite: int) -> list[int]:
        return [v["id"] for v in await vagas_abertas(pool, cache, esp, limite)]

    for limite in (5, 10, 5, 10):  # two cached lists, each read twice
        assert await abertas(limite) == [vaga_id]
    assert cache.counts()["vagas"]["hits"] == 2

    medico = await fabrica.medico(esp)
    for status, esperado in (
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
        assert await abertas(5) == esperado
        assert await abertas(10) == esperado
    # Reopened, the shift let its doctor go.
    assert await pool.fetchval("SELECT cliente_id FROM vagas WHERE id = $1", vaga_id) is None

    nova = await criar_vaga(
        pool,
        cache,
        hospital_id=fabrica.hospitais[0],
        especialidade_id=esp,
        periodo_id=fabrica.periodos[0],
        data_plantao=dt.date.today(),
        valor=Decimal("2100.50"),
    )
    assert nova["valor"] == Decimal("2100.50")
    assert await abertas(5) == [nova["id"]]
    assert await abertas(10) == [nova["id"]]


async def test_changing_a_status_someone_else_changed_first_changes_nothing(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    esp = await fabrica.especialidade()
    vaga_id = await fabrica.vaga(esp)
    assert await mudar_status_vaga(pool, cache, vaga_id, "cancelada", de="aberta") is not None
    assert await mudar_status_vaga(pool, cache, vaga_id, "cancelada", de="aberta") is None
    assert await mudar_status_vaga(pool, cache, -1, "aberta") is None


async def test_a_doctor_update_refuses_fields_it_does_not_know(
    pool: asyncpg.Pool, cache: Cache, fabrica: Fabrica
) -> None:
    medico = await fabrica.medico()
    with pytest.raises(ValueError, match="created_at"):
        await atualizar_medico(pool, cache, medico["id"], {"created_at": "2020-01-01"})
    assert await atualizar_medico(pool, cache, -1, {"status": "ativo"}) is None
