"""Every critical query of julia/data returns exactly what an independent Python computation over the raw
seeded rows says it should, for several sampled inputs (present and absent ones)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy

from julia import db, servers
from julia.clock import TIMEZONE
from julia.data.clientes import buscar_medico_por_id, buscar_medico_por_telefone, buscar_medicos_por_tag
from julia.data.conversations import buscar_conversa_ativa
from julia.data.fila_mensagens import reivindicar_mensagens
from julia.data.interacoes import carregar_historico
from julia.data.operacao import contar_operacao
from julia.data.vagas import buscar_vagas
from julia.db import drop_database
from julia.seed.database import seeded_database
from tests.integration.rollback import rolled_back

DOCTORS = 2_000
DATABASE = "queries_seed"
SAMPLES = 15
Rows = list[dict[str, Any]]
Connection = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class Raw:
    """The seeded tables as plain rows, read once: the expected answers are computed from these alone."""

    clientes: Rows
    conversations: Rows
    interacoes: Rows
    vagas: Rows
    hospitais: dict[int, dict[str, Any]]
    periodos: dict[int, dict[str, Any]]
    queue: Rows
    handoffs: Rows


@pytest.fixture(scope="module")
async def pool(services: servers.Servers) -> AsyncIterator[asyncpg.Pool]:
    # Seeded as of today: "due" and "from today on" then mean what they mean in production.
    dsn, _ = await seeded_database(services.database_url, DATABASE, DOCTORS, today=dt.date.today())
    seeded = await db.create_pool(dsn, min_size=1, max_size=2)
    yield seeded
    await seeded.close()
    await drop_database(services.database_url, DATABASE)


@pytest.fixture(scope="module")
async def raw(pool: asyncpg.Pool) -> Raw:
    async def rows(table: str) -> Rows:
        return [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY id")]

    return Raw(
        clientes=await rows("clientes"),
        conversations=await rows("conversations"),
        interacoes=await rows("interacoes"),
        vagas=await rows("vagas"),
        hospitais={r["id"]: r for r in await rows("hospitais")},
        periodos={r["id"]: r for r in await rows("periodos")},
        queue=await rows("fila_mensagens"),
        handoffs=await rows("handoffs"),
    )


def _pick(rows: Rows, field: str, seed: int = 1) -> list[Any]:
    return [r[field] for r in random.Random(seed).sample(rows, SAMPLES)]


def _only(row: dict[str, Any], columns: Any) -> dict[str, Any]:
    return {c: row[c] for c in columns}


async def test_buscar_medico_por_telefone(pool: asyncpg.Pool, raw: Raw) -> None:
    by_phone = {r["telefone"]: r for r in raw.clientes}
    for telefone in [*_pick(raw.clientes, "telefone"), "+5511900000000"]:
        found = await buscar_medico_por_telefone(pool, telefone)
        expected = by_phone.get(telefone)
        assert (found is None) == (expected is None)
        if found and expected:
            assert asdict(found) == _only(expected, asdict(found))


async def test_buscar_medico_por_id(pool: asyncpg.Pool, raw: Raw) -> None:
    by_id = {r["id"]: r for r in raw.clientes}
    for cliente_id in [*_pick(raw.clientes, "id"), DOCTORS + 1, 0]:
        found = await buscar_medico_por_id(pool, cliente_id)
        expected = by_id.get(cliente_id)
        assert (found is None) == (expected is None)
        if found and expected:
            assert asdict(found) == _only(expected, asdict(found))


async def test_buscar_conversa_ativa(pool: asyncpg.Pool, raw: Raw) -> None:
    active = {r["cliente_id"]: r for r in raw.conversations if r["status"] == "ativa"}
    com = random.Random(2).sample(sorted(active), SAMPLES)
    without = random.Random(3).sample(sorted({r["id"] for r in raw.clientes} - set(active)), SAMPLES)
    for cliente_id in com + without:
        found = await buscar_conversa_ativa(pool, cliente_id)
        expected = active.get(cliente_id)
        assert (found is None) == (expected is None)
        if found and expected:
            assert asdict(found) == _only(expected, asdict(found))


@pytest.mark.parametrize("limit", [20, 5])
async def test_carregar_historico(pool: asyncpg.Pool, raw: Raw, limit: int) -> None:
    for conversa_id in [*_pick(raw.conversations, "id"), 10**9]:
        messages = [r for r in raw.interacoes if r["conversa_id"] == conversa_id]
        newest = sorted(messages, key=lambda r: (r["created_at"], r["id"]), reverse=True)[:limit]
        found = await carregar_historico(pool, conversa_id, limit)
        assert [asdict(r) for r in found] == [_only(r, asdict(found[0])) for r in newest]


async def test_buscar_vagas(pool: asyncpg.Pool, raw: Raw) -> None:
    today = dt.date.today()
    especialidades = [*sorted({r["especialidade_id"] for r in raw.vagas})[:SAMPLES], 10**6]
    checked = 0
    for especialidade_id in especialidades:
        for desde in (today, today + dt.timedelta(days=30), today - dt.timedelta(days=10)):
            now = dt.datetime.now(TIMEZONE)
            abertas = [
                v
                for v in raw.vagas
                if v["especialidade_id"] == especialidade_id
                and v["status"] == "aberta"
                and v["data_plantao"] >= desde
                # not started: its start hour is São Paulo's (migrations/0011_reservas_regras.sql)
                and dt.datetime.combine(
                    v["data_plantao"], raw.periodos[v["periodo_id"]]["hora_inicio"], tzinfo=TIMEZONE
                )
                > now
            ]
            soonest = sorted(abertas, key=lambda v: (v["data_plantao"], v["id"]))[:10]
            expected = [
                {
                    "id": v["id"],
                    "data_plantao": v["data_plantao"],
                    "valor": v["valor"],
                    "hospital": raw.hospitais[v["hospital_id"]]["nome"],
                    "cidade": raw.hospitais[v["hospital_id"]]["cidade"],
                    "estado": raw.hospitais[v["hospital_id"]]["estado"],
                    "periodo": raw.periodos[v["periodo_id"]]["nome"],
                    "hora_inicio": raw.periodos[v["periodo_id"]]["hora_inicio"],
                    "hora_fim": raw.periodos[v["periodo_id"]]["hora_fim"],
                }
                for v in soonest
            ]
            found = await buscar_vagas(pool, especialidade_id, desde)
            assert [_only(asdict(r), expected[0]) for r in found] == expected if expected else found == []
            checked += len(found)
    assert checked > 100  # the samples did exercise full pages


@pytest.mark.parametrize(
    ("tag", "limit"),
    [("plantonista", 100), ("vip", 50), ("cardiologia", 30), ("sp-capital", 10), ("nenhuma-tag", 10)],
)
async def test_buscar_medicos_por_tag(pool: asyncpg.Pool, raw: Raw, tag: str, limit: int) -> None:
    expected = [r for r in raw.clientes if tag in r["tags"]][:limit]  # raw.clientes is in id order
    found = await buscar_medicos_por_tag(pool, tag, limit)
    assert (
        [asdict(r) for r in found] == [_only(r, asdict(found[0])) for r in expected]
        if expected
        else found == []
    )
    if tag != "nenhuma-tag":
        assert len(found) == limit


def _claim_order(raw: Raw, now: dt.datetime, limit: int) -> list[int]:
    """What julia/sql/fila_mensagens.sql says it claims: the first `limite` due pending messages (priority,
    then schedule) and the first `limite` expired leases (oldest lease first), the first `limite` of both."""
    vencidas = sorted(
        (r for r in raw.queue if r["status"] == "pendente" and r["agendar_para"] <= now),
        key=lambda r: (-r["prioridade"], r["agendar_para"]),
    )[:limit]
    expiradas = sorted(
        (r for r in raw.queue if r["status"] == "processando" and r["locked_until"] < now),
        key=lambda r: r["locked_until"],
    )[:limit]
    both = sorted(vencidas + expiradas, key=lambda r: (-r["prioridade"], r["agendar_para"], r["id"]))
    return [r["id"] for r in both[:limit]]


@pytest.mark.parametrize("limit", [1, 25, 10_000])
async def test_reivindicar_mensagens(pool: asyncpg.Pool, raw: Raw, limit: int) -> None:
    by_id = {r["id"]: r for r in raw.queue}
    async with pool.acquire() as conn, rolled_back(conn):
        now = await conn.fetchval("SELECT now()")  # the transaction's now(), the one the claim sees
        expected = set(_claim_order(raw, now, limit))
        assert expected  # the seed always leaves due messages and expired leases
        claimed = await reivindicar_mensagens(conn, limit, 60)
        assert {r.id for r in claimed} == expected
        for r in claimed:
            assert r.tentativas == by_id[r.id]["tentativas"] + 1
            assert r.cliente_id == by_id[r.id]["cliente_id"]
        leased = await conn.fetch(
            "SELECT status, locked_until FROM fila_mensagens WHERE id = ANY($1)", list(expected)
        )
        assert {(r["status"], r["locked_until"]) for r in leased} == {
            ("processando", now + dt.timedelta(seconds=60))
        }


async def test_contar_operacao(pool: asyncpg.Pool, raw: Raw) -> None:
    async with pool.acquire() as conn, conn.transaction():
        now = await conn.fetchval("SELECT now()")
        found = await contar_operacao(conn)
    pendentes = [r["agendar_para"] for r in raw.queue if r["status"] == "pendente"]
    vencidas = [t for t in pendentes if t <= now]
    handoffs = [r["created_at"] for r in raw.handoffs if r["status"] == "pendente"]
    assert found.conversas_ativas == sum(r["status"] == "ativa" for r in raw.conversations)
    assert (found.entradas_abertas, found.entrada_mais_antiga_s) == (0, 0)  # the seed answers everything
    assert found.fila_pendente == len(pendentes)
    assert found.fila_vencida == len(vencidas) > 0
    assert found.fila_mais_antiga_s == pytest.approx((now - min(vencidas)).total_seconds())
    assert found.handoffs_pendentes == len(handoffs)
    assert found.handoff_mais_antigo_s == pytest.approx(
        (now - min(handoffs)).total_seconds() if handoffs else 0
    )


async def test_contar_operacao_sees_inbound_messages_waiting(pool: asyncpg.Pool, raw: Raw) -> None:
    entrada = next(r for r in raw.interacoes if r["direcao"] == "entrada")
    async with pool.acquire() as conn, rolled_back(conn):
        # now() is fixed for the transaction: the count below sees exactly 7 minutes of waiting.
        await conn.execute(
            "INSERT INTO entradas (interacao_id, cliente_id, conversa_id, status, created_at)"
            " VALUES ($1, $2, $3, 'processando', now() - interval '7 minutes')",
            entrada["id"],
            entrada["cliente_id"],
            entrada["conversa_id"],
        )
        found = await contar_operacao(conn)
    assert found.entradas_abertas == 1
    assert found.entrada_mais_antiga_s == pytest.approx(420)
