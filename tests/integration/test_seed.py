"""`julia seed`: deterministic, realistic, refuses what it cannot do, leaves the migrated schema as it was.

Each module seeds private databases (julia.seed.database) so the shared `pool` database stays empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest

from julia import servers
from julia.cli import main
from julia.data import fila_mensagens
from julia.db import drop_database, fresh_database
from julia.errors import SeedError
from julia.seed import SeedSummary, seed
from julia.seed.database import seeded_database
from julia.seed.reference import load_reference
from tests.integration.rollback import rolled_back

TODAY = dt.date(2026, 3, 2)
DOCTORS = 1_000
NAMES = ("seed_a", "seed_b", "seed_c", "seed_vazio", "seed_cli", "seed_200")


@pytest.fixture(scope="module")
async def seeded(services: servers.Servers) -> AsyncIterator[dict[str, tuple[str, SeedSummary]]]:
    found = {
        "a": await seeded_database(services.database_url, "seed_a", DOCTORS, today=TODAY),
        "b": await seeded_database(services.database_url, "seed_b", DOCTORS, today=TODAY),
        "c": await seeded_database(services.database_url, "seed_c", DOCTORS, seed_=7, today=TODAY),
    }
    yield found
    for name in NAMES:
        await drop_database(services.database_url, name)


@pytest.fixture
async def conn(seeded: dict[str, tuple[str, SeedSummary]]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(seeded["a"][0])
    yield connection
    await connection.close()


def test_same_doctors_seed_and_day_give_the_same_checksum(seeded: dict[str, tuple[str, SeedSummary]]) -> None:
    a, b = seeded["a"][1], seeded["b"][1]
    assert a.checksum == b.checksum
    assert a.rows == b.rows


def test_another_seed_gives_other_rows(seeded: dict[str, tuple[str, SeedSummary]]) -> None:
    assert seeded["c"][1].checksum != seeded["a"][1].checksum


def test_summary_counts_what_is_in_the_database(seeded: dict[str, tuple[str, SeedSummary]]) -> None:
    summary = seeded["a"][1]
    assert summary.rows["clientes"] == DOCTORS
    assert summary.rows["hospitais"] >= 20
    assert summary.rows["especialidades"] == len(load_reference().especialidades)
    assert (
        20 * summary.rows["conversations"]
        <= summary.rows["interacoes"]
        <= 200 * summary.rows["conversations"]
    )
    assert all(count > 0 for count in summary.rows.values())
    assert str(DOCTORS) in summary.line().replace(",", "")
    assert summary.checksum in summary.line()


async def test_phones_are_brazilian_mobiles_with_real_area_codes_and_unique(conn: asyncpg.Connection) -> None:
    ddds = {d.ddd for d in load_reference().ddds}
    phones = [r["telefone"] for r in await conn.fetch("SELECT telefone FROM clientes")]
    assert len(set(phones)) == len(phones) == DOCTORS
    for phone in phones:
        assert re.fullmatch(r"\+55(\d\d)9\d{8}", phone), phone
        assert phone[3:5] in ddds, phone


async def test_doctors_look_like_doctors(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("SELECT primeiro_nome, sobrenome, crm, tags FROM clientes")
    ref = load_reference()
    states = {d.estado for d in ref.ddds}
    crms = [r["crm"] for r in rows]
    assert len(set(crms)) == len(crms)
    for r in rows:
        assert r["primeiro_nome"] in ref.first_names
        assert all(part in ref.surnames for part in r["sobrenome"].split())
        match = re.fullmatch(r"CRM/([A-Z]{2}) (\d+)", r["crm"])
        assert match, r["crm"]
        assert match[1] in states, r["crm"]
    tags = {t for r in rows for t in r["tags"]}
    assert {"plantonista", "vip", "sp-capital"} <= tags


async def test_conversations_and_interactions_are_realistic(conn: asyncpg.Connection) -> None:
    active = await conn.fetchval("SELECT count(*) FROM conversations WHERE status = 'ativa'")
    assert 0.25 * DOCTORS <= active <= 0.35 * DOCTORS
    assert await conn.fetchval("SELECT count(*) FROM conversations WHERE status = 'encerrada'") > 0
    per_conversation = await conn.fetch(
        "SELECT count(*) AS n, bool_and(created_at < $1) AS passado, "
        "count(*) FILTER (WHERE origem = 'humano') AS humano FROM interacoes GROUP BY conversa_id",
        dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC),
    )
    assert all(20 <= r["n"] <= 200 and r["passado"] for r in per_conversation)
    assert any(r["humano"] for r in per_conversation)
    # Julia and the doctor take turns: an inbound message is always followed by an outbound one.
    assert not await conn.fetchval(
        "SELECT count(*) FROM (SELECT direcao, lag(direcao) OVER (PARTITION BY conversa_id "
        "ORDER BY created_at, id) AS antes FROM interacoes) t WHERE direcao = antes"
    )


async def test_shifts_queue_and_handoffs_are_realistic(conn: asyncpg.Connection) -> None:
    vagas = await conn.fetchrow(
        "SELECT min(valor) AS menor, max(valor) AS maior, max(data_plantao) AS ultima, "
        "count(*) FILTER (WHERE status = 'aberta') * 2 > count(*) AS maioria_aberta FROM vagas"
    )
    assert vagas is not None
    assert vagas["menor"] >= 800
    assert vagas["maior"] <= 3_500
    assert vagas["maioria_aberta"]
    assert vagas["ultima"] <= TODAY + dt.timedelta(days=89)
    # Reserved and filled shifts are held by a doctor of their specialty (the CHECK of 0005 holds even
    # though it was added NOT VALID): seeded data must look like what reservar_vaga writes.
    assert not await conn.fetchval(
        "SELECT count(*) FROM vagas v LEFT JOIN clientes c ON c.id = v.cliente_id "
        "WHERE (v.status IN ('reservada', 'preenchida')) <> (c.id IS NOT NULL) "
        "OR (c.id IS NOT NULL AND c.especialidade_id <> v.especialidade_id) "
        "OR (v.cliente_id IS NULL) <> (v.reservada_em IS NULL) OR v.reservada_em < v.created_at"
    )
    assert await conn.fetchval("SELECT count(*) FROM vagas WHERE status = 'reservada'") > 0
    queue = {
        r["status"]: r["n"]
        for r in await conn.fetch("SELECT status, count(*) AS n FROM fila_mensagens GROUP BY 1")
    }
    assert set(queue) == {"enviada", "erro", "pendente", "processando"}
    assert queue["enviada"] > sum(queue.values()) / 2
    priorities = {r[0] for r in await conn.fetch("SELECT DISTINCT prioridade FROM fila_mensagens")}
    assert {0, 5, 10} <= priorities <= set(range(11))
    base = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)
    pendentes = await conn.fetch("SELECT agendar_para FROM fila_mensagens WHERE status = 'pendente'")
    assert any(r[0] <= base for r in pendentes)
    assert any(r[0] > base for r in pendentes)
    assert await conn.fetchval("SELECT count(*) FROM handoffs") > 0


async def test_schema_after_seeding_is_the_migrated_one(
    services: servers.Servers, conn: asyncpg.Connection
) -> None:
    catalog = (
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 2",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 2",
    )
    empty = await asyncpg.connect(await fresh_database(services.database_url, "seed_vazio"))
    try:
        for query in catalog:
            seeded_catalog = [tuple(r) for r in await conn.fetch(query)]
            assert seeded_catalog == [tuple(r) for r in await empty.fetch(query)]
    finally:
        await empty.close()


async def test_sequences_continue_after_the_seeded_ids(conn: asyncpg.Connection) -> None:
    async with rolled_back(conn):
        new = await conn.fetchval("INSERT INTO clientes (telefone) VALUES ('+5511900000001') RETURNING id")
        assert new == DOCTORS + 1
        conversa = await conn.fetchval("INSERT INTO conversations (cliente_id) VALUES ($1) RETURNING id", new)
        assert conversa == await conn.fetchval("SELECT max(id) FROM conversations")
        interacao = await conn.fetchval(
            "INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo) "
            "VALUES ($1, $2, 'entrada', 'medico', 'oi') RETURNING id",
            conversa,
            new,
        )
        assert interacao == await conn.fetchval("SELECT max(id) FROM interacoes")


async def test_a_database_with_doctors_is_refused(conn: asyncpg.Connection) -> None:
    with pytest.raises(SeedError, match="already has"):
        await seed(conn, 10)


async def test_two_hundred_doctors_seed(
    services: servers.Servers, seeded: dict[str, tuple[str, SeedSummary]]
) -> None:
    """`julia dev --doctors 200` failed with "payload string too long": the doctors' change feed put all
    200 in one NOTIFY, past its 8000 bytes (migrations/0019 sends parts of 100)."""
    _, summary = await seeded_database(services.database_url, "seed_200", 200, today=TODAY)
    assert summary.rows["clientes"] == 200


@pytest.mark.parametrize("doctors", [0, -5])
async def test_no_doctors_is_refused(conn: asyncpg.Connection, doctors: int) -> None:
    with pytest.raises(SeedError, match="--doctors"):
        await seed(conn, doctors)


def test_cli_refuses_a_bad_count_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--doctors", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("julia: ")
    assert "--doctors" in err
    assert "\n" not in err


@pytest.fixture
async def cli_database(services: servers.Servers, monkeypatch: pytest.MonkeyPatch) -> str:
    dsn = await fresh_database(services.database_url, "seed_cli")
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    return dsn


def test_cli_seeds_then_refuses_to_seed_again(
    cli_database: str, capsys: pytest.CaptureFixture[str], seeded: dict[str, tuple[str, SeedSummary]]
) -> None:
    # Synchronous on purpose: the CLI runs its own event loop, in the main thread, as it does for users.
    assert main(["seed", "--doctors", str(DOCTORS), "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert seeded["a"][1].checksum in out
    assert main(["seed", "--doctors", "10"]) == 1
    err = capsys.readouterr().err.strip()
    assert "already has" in err
    assert "\n" not in err


async def test_dev_puts_the_seeded_queue_off_a_day_so_nothing_is_due(conn: asyncpg.Connection) -> None:
    async with rolled_back(conn):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM fila_mensagens WHERE status IN ('pendente', 'processando')"
        )
        assert waiting > 0
        assert await fila_mensagens.adiar_fila_semeada(conn) == waiting
        assert await fila_mensagens.reivindicar_mensagens(conn, 10_000, 30) == []
