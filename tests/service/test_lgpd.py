"""LGPD: a doctor's data exported and erased from every table and from Redis, the opt-out kept as a hash,
and the retention pass. Against the real app, worker, Postgres and Redis:
the doctor's rows are made by julia's own paths (webhooks answered by the worker, the caches they fill),
then every table and every Redis key and value is searched for anything that could still name them."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from julia import cache
from julia.data import chamadas_ferramenta, clientes, handoffs
from julia.services import lgpd
from julia.settings import Settings
from julia.worker.loop import Worker
from tests.service.conftest import CHATWOOT, Externals, drain, post, upsert
from tests.support import waiting

NUMBER = "5511987650123"
PHONE = f"+{NUMBER}"
OTHER = "5521912340987"
NOME, SOBRENOME, CRM = "Zuleika", "Quintanilha-Borromeu", "CRM-SP 778899"
MARK = "sintoma-unico-xq7"  # a text only this doctor wrote (the kind of health data a message carries)


@pytest.fixture
async def base(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE titulares_apagados, especialidades, hospitais, periodos CASCADE")
    return pool


async def _medico_with_history(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, redis: aioredis.Redis
) -> int:
    """A lead made by a webhook, named by the business, who wrote twice (the worker answered and the
    caches filled), passed to a person once, ran a tool, holds a reserved and a filled shift, opted out.
    Beside them another doctor, who must come out untouched."""
    await post(cliente, upsert(f"Oi, tenho {MARK}", numero=NUMBER, msg_id="A1", nome=NOME))
    await post(cliente, upsert("Oi", numero=OTHER, msg_id="B1", nome="Outro"))
    await drain(worker, pool)
    medico_id: int = await pool.fetchval("SELECT id FROM clientes WHERE telefone = $1", PHONE)
    campos = {"primeiro_nome": NOME, "sobrenome": SOBRENOME, "crm": CRM, "status": "ativo"}
    await cache.atualizar_medico(pool, worker._s.cache, medico_id, campos)  # as /admin edits a doctor
    await post(cliente, upsert(f"Sou {NOME} {SOBRENOME}, {MARK} de novo", numero=NUMBER, msg_id="A2"))
    await drain(worker, pool)
    conversa_id: int = await pool.fetchval("SELECT id FROM conversations WHERE cliente_id = $1", medico_id)
    interacao_id: int = await pool.fetchval(
        "SELECT max(id) FROM interacoes WHERE cliente_id = $1 AND direcao = 'entrada'", medico_id
    )
    await handoffs.passar_para_humano(pool, conversa_id, f"{NOME} relatou {MARK}")
    await chamadas_ferramenta.registrar_chamada_ferramenta(
        pool,
        conversa_id=conversa_id,
        interacao_id=interacao_id,
        ferramenta="pedir_humano",
        entrada={"motivo": f"{NOME} {SOBRENOME}, {PHONE}"},
        resultado={"ok": True},
        erro=False,
    )
    await pool.execute(
        """
        WITH e AS (INSERT INTO especialidades (nome) VALUES ('Cardiologia') RETURNING id),
             h AS (INSERT INTO hospitais (nome, cidade, estado) VALUES ('H', 'São Paulo', 'SP') RETURNING id),
             p AS (INSERT INTO periodos (nome, hora_inicio, hora_fim) VALUES ('Noite', '19:00', '07:00')
                   RETURNING id)
        INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor, status, cliente_id,
                           reservada_em)
        SELECT h.id, e.id, p.id, current_date + d, 1500, s, $1, now()
        FROM e, h, p, (VALUES (7, 'reservada'), (-7, 'preenchida')) v(d, s)
        """,
        medico_id,
    )
    async with pool.acquire() as conn:
        await clientes.registrar_opt_out(conn, medico_id)
    assert await redis.keys(f"*{NUMBER}*"), "the webhook's cache should hold the doctor by phone"
    return medico_id


async def _value(redis: aioredis.Redis, key: bytes) -> Any:
    """A key's value, whatever its type."""
    kind = await redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return await redis.get(key)
    if kind == "hash":
        return await redis.hgetall(key)
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    if kind == "set":
        return await redis.smembers(key)
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    return await redis.xrange(key)  # a stream


async def _traces(pool: asyncpg.Pool, redis: aioredis.Redis, medico_id: int) -> list[str]:
    """Every place in Postgres (every table of the schema, every row, every column as text) and in Redis
    (every key, every value of every type) that still names the doctor."""
    needles = [NUMBER, NOME, SOBRENOME, CRM, MARK]
    findings: list[str] = []
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    for (tabela,) in tables:
        columns = {
            r[0]
            for r in await pool.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", tabela
            )
        }
        for linha in await pool.fetch(f'SELECT to_jsonb(t)::text AS texto FROM "{tabela}" t'):
            findings += [f"{tabela}: {a}" for a in needles if a in linha["texto"]]
        if "cliente_id" in columns:
            n = await pool.fetchval(f'SELECT count(*) FROM "{tabela}" WHERE cliente_id = $1', medico_id)
            findings += [f"{tabela}.cliente_id = {medico_id}"] * bool(n)
    async for key in redis.scan_iter(count=1000):
        texto = f"{key!r} {await _value(redis, key)!r}"
        findings += [f"redis {key!r}: {a}" for a in [*needles, f"medico:{medico_id}}}"] if a in texto]
    return findings


async def test_erasing_leaves_no_copy_in_postgres_or_redis(
    cliente: httpx.AsyncClient,
    base: asyncpg.Pool,
    worker: Worker,
    redis: aioredis.Redis,
    externals: Externals,
) -> None:
    medico_id = await _medico_with_history(cliente, base, worker, redis)
    other_before = await base.fetchval(
        "SELECT count(*) FROM interacoes i JOIN clientes c ON c.id = i.cliente_id WHERE c.telefone = $1",
        f"+{OTHER}",
    )
    assert len(await _traces(base, redis, medico_id)) > 10  # the search finds what is there

    contacts = f"{CHATWOOT}/api/v1/accounts/1/contacts/"
    delete_contact = externals.router.delete(url__regex=contacts + r"\d+").mock(
        return_value=httpx.Response(200)
    )
    progress: list[str] = []
    done = await lgpd.apagar(base, redis, PHONE, progress.append, worker._s.chatwoot)

    assert await _traces(base, redis, medico_id) == []
    assert done.linhas["clientes"] == 1
    assert done.linhas["interacoes"] >= 4
    assert (done.released_vagas, done.anonymized_vagas) == (1, 1)
    assert done.redis_keys >= 1
    assert delete_contact.calls.last.request.url == f"{contacts}501"  # the contact the mirror created
    assert done.chatwoot_pending is None
    assert "Chatwoot contact 501 deleted" in done.linha()
    assert "+55*******0123" in done.linha()
    assert NUMBER not in done.linha()
    assert progress[0].startswith(f"erasing doctor {medico_id}")
    vagas = await base.fetch("SELECT status, cliente_id, medico_apagado_em FROM vagas ORDER BY data_plantao")
    assert [(v["status"], v["cliente_id"], v["medico_apagado_em"] is None) for v in vagas] == [
        ("preenchida", None, False),
        ("aberta", None, True),
    ]
    evidence = await base.fetchrow("SELECT telefone_hash, opt_out_em FROM titulares_apagados")
    assert evidence is not None
    assert bytes(evidence["telefone_hash"]) == hashlib.sha256(PHONE.encode()).digest()
    assert evidence["opt_out_em"] is not None
    other_after = await base.fetchval(
        "SELECT count(*) FROM interacoes i JOIN clientes c ON c.id = i.cliente_id WHERE c.telefone = $1",
        f"+{OTHER}",
    )
    assert other_after == other_before > 0

    # Idempotent: again, nothing held, and it says when it was erased.
    again = await lgpd.apagar(base, redis, PHONE)
    assert again.already_erased_at is not None
    assert "already erased" in again.linha()


async def test_who_left_comes_back_as_opt_out_and_gets_no_claude(
    cliente: httpx.AsyncClient,
    base: asyncpg.Pool,
    worker: Worker,
    redis: aioredis.Redis,
    externals: Externals,
) -> None:
    await _medico_with_history(cliente, base, worker, redis)
    await lgpd.apagar(base, redis, PHONE)
    calls = externals.claude.call_count

    await post(cliente, upsert("Oi de novo", numero=NUMBER, msg_id="A9"))
    await drain(worker, base)

    new = await base.fetchrow("SELECT status, opt_out_em FROM clientes WHERE telefone = $1", PHONE)
    assert new is not None
    assert new["status"] == "opt_out"
    assert new["opt_out_em"] is not None
    assert externals.claude.call_count == calls  # a person answers an opted-out number, never Claude


async def test_export_brings_every_table_and_redis(
    cliente: httpx.AsyncClient,
    base: asyncpg.Pool,
    worker: Worker,
    redis: aioredis.Redis,
    externals: Externals,
) -> None:
    medico_id = await _medico_with_history(cliente, base, worker, redis)

    dados = await lgpd.export(base, redis, PHONE)

    json.dumps(dados)  # JSON as it comes
    assert dados["clientes"]["id"] == medico_id
    assert dados["clientes"]["sobrenome"] == SOBRENOME
    for tabela, _ in lgpd.TABLES:
        assert dados[tabela], f"{tabela} exported empty"
    assert any(MARK in i["conteudo"] for i in dados["interacoes"])
    assert any(NUMBER in key for key in dados["redis"])
    assert dados["titulares_apagados"] is None

    without_chatwoot = await lgpd.apagar(base, redis, PHONE)
    assert without_chatwoot.chatwoot_pending == "CHATWOOT_* not set for this command"
    assert "Chatwoot contact 501 NOT deleted" in without_chatwoot.linha()
    depois = await lgpd.export(base, redis, PHONE)
    assert depois["clientes"] is None
    assert depois["interacoes"] == []
    assert depois["redis"] == {}
    assert depois["titulares_apagados"]["opt_out_em"] is not None


async def test_unknown_number(base: asyncpg.Pool, redis: aioredis.Redis) -> None:
    with pytest.raises(lgpd.UnknownTitular, match=r"no doctor or lead has the phone \+55\*{7}1111"):
        await lgpd.apagar(base, redis, "+5511900001111")
    with pytest.raises(lgpd.UnknownTitular):
        await lgpd.export(base, redis, "+5511900001111")


async def test_retention_erases_idle_leads_and_old_messages_in_batches(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    numbers = [f"55119000000{i:02d}" for i in range(5)]
    for i, numero in enumerate(numbers):
        await post(cliente, upsert("Oi", numero=numero, msg_id=f"R{i}"))
    await drain(worker, base)
    # Leads 0-2 idle for a year; lead 3 idle for a year but qualified (a CRM); lead 4 wrote today.
    await base.execute(
        "UPDATE clientes SET updated_at = now() - interval '1 year' WHERE telefone = ANY($1)",
        [f"+{n}" for n in numbers[:4]],
    )
    await base.execute("UPDATE clientes SET crm = 'CRM-RJ 1' WHERE telefone = $1", f"+{numbers[3]}")
    await base.execute(
        "UPDATE interacoes SET created_at = now() - interval '1 year' WHERE cliente_id IN"
        " (SELECT id FROM clientes WHERE telefone = ANY($1))",
        [f"+{n}" for n in numbers[:4]],
    )
    settings = Settings(lgpd_retencao_leads_dias=180, lgpd_retencao_interacoes_dias=300, lgpd_retencao_lote=2)

    done = await lgpd.reter(base, settings)

    remaining = {r[0] for r in await base.fetch("SELECT telefone FROM clientes")}
    assert remaining == {f"+{numbers[3]}", f"+{numbers[4]}"}
    assert done.leads == 3
    # The qualified doctor's year-old messages went by the message period; the new lead's stay.
    assert done.interacoes == 2
    tallies = await base.fetch(
        "SELECT c.telefone, count(i.id) AS n FROM clientes c LEFT JOIN interacoes i ON i.cliente_id = c.id"
        " GROUP BY c.telefone"
    )
    by_phone = {r["telefone"]: r["n"] for r in tallies}
    assert by_phone == {f"+{numbers[3]}": 0, f"+{numbers[4]}": 2}
    assert (await lgpd.reter(base, settings)).linha() == (
        "retention: 0 leads, 0 messages and 0 delivery receipts deleted"
    )


async def test_retention_erases_old_recibos_in_batches(base: asyncpg.Pool) -> None:
    """Delivery receipts first heard of more than RECIBOS_RETENCAO_DIAS ago go, in batches of
    LGPD_RETENCAO_LOTE; newer ones stay (issue 36)."""
    await base.execute(
        "INSERT INTO recibos (whatsapp_message_id, estado, status_whatsapp, recebido_em)"
        " SELECT 'wamid.' || g, 'lida', 'READ', now() - make_interval(days => g * 20)"
        " FROM generate_series(1, 7) g"
    )
    settings = Settings(recibos_retencao_dias=90, lgpd_retencao_lote=2)
    done = await lgpd.reter(base, settings)
    assert done.recibos == 3  # 100, 120 and 140 days old, two batches
    remaining = await base.fetchval(
        "SELECT array_agg(whatsapp_message_id ORDER BY recebido_em DESC) FROM recibos"
    )
    assert remaining == [f"wamid.{g}" for g in range(1, 5)]


async def test_the_worker_runs_the_retention_itself(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, settings: Settings, externals: Externals
) -> None:
    await post(cliente, upsert("Oi", numero=OTHER, msg_id="W1"))
    await drain(worker, base)
    await base.execute("UPDATE clientes SET updated_at = now() - interval '1 year'")
    await base.execute("UPDATE interacoes SET created_at = now() - interval '1 year'")
    worker._s.settings = settings.model_copy(update={"lgpd_retencao_intervalo_s": 1})
    stop = asyncio.Event()
    loop = asyncio.create_task(worker._retention_loop(stop))

    async def erased_ones() -> bool:
        remaining: int = await base.fetchval("SELECT count(*) FROM clientes")
        return remaining == 0

    try:
        await waiting.ate(erased_ones, limit_s=20)
    finally:
        stop.set()
        await loop
