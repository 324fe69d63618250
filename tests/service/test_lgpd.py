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
from tests.service.conftest import CHATWOOT, Externos, drenar, postar, upsert
from tests.support import espera

NUMERO = "5511987650123"
TELEFONE = f"+{NUMERO}"
OUTRO = "5521912340987"
NOME, SOBRENOME, CRM = "Zuleika", "Quintanilha-Borromeu", "CRM-SP 778899"
MARCA = "sintoma-unico-xq7"  # a text only this doctor wrote (the kind of health data a message carries)


@pytest.fixture
async def base(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE titulares_apagados, especialidades, hospitais, periodos CASCADE")
    return pool


async def _medico_com_historico(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, redis: aioredis.Redis
) -> int:
    """A lead made by a webhook, named by the business, who wrote twice (the worker answered and the
    caches filled), passed to a person once, ran a tool, holds a reserved and a filled shift, opted out.
    Beside them another doctor, who must come out untouched."""
    await postar(cliente, upsert(f"Oi, tenho {MARCA}", numero=NUMERO, msg_id="A1", nome=NOME))
    await postar(cliente, upsert("Oi", numero=OUTRO, msg_id="B1", nome="Outro"))
    await drenar(worker, pool)
    medico_id: int = await pool.fetchval("SELECT id FROM clientes WHERE telefone = $1", TELEFONE)
    campos = {"primeiro_nome": NOME, "sobrenome": SOBRENOME, "crm": CRM, "status": "ativo"}
    await cache.atualizar_medico(pool, worker._s.cache, medico_id, campos)  # as /admin edits a doctor
    await postar(cliente, upsert(f"Sou {NOME} {SOBRENOME}, {MARCA} de novo", numero=NUMERO, msg_id="A2"))
    await drenar(worker, pool)
    conversa_id: int = await pool.fetchval("SELECT id FROM conversations WHERE cliente_id = $1", medico_id)
    interacao_id: int = await pool.fetchval(
        "SELECT max(id) FROM interacoes WHERE cliente_id = $1 AND direcao = 'entrada'", medico_id
    )
    await handoffs.passar_para_humano(pool, conversa_id, f"{NOME} relatou {MARCA}")
    await chamadas_ferramenta.registrar_chamada_ferramenta(
        pool,
        conversa_id=conversa_id,
        interacao_id=interacao_id,
        ferramenta="pedir_humano",
        entrada={"motivo": f"{NOME} {SOBRENOME}, {TELEFONE}"},
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
    assert await redis.keys(f"*{NUMERO}*"), "the webhook's cache should hold the doctor by phone"
    return medico_id


async def _valor(redis: aioredis.Redis, chave: bytes) -> Any:
    """A key's value, whatever its type."""
    tipo = await redis.type(chave)
    tipo = tipo.decode() if isinstance(tipo, bytes) else tipo
    if tipo == "string":
        return await redis.get(chave)
    if tipo == "hash":
        return await redis.hgetall(chave)
    if tipo == "list":
        return await redis.lrange(chave, 0, -1)
    if tipo == "set":
        return await redis.smembers(chave)
    if tipo == "zset":
        return await redis.zrange(chave, 0, -1, withscores=True)
    return await redis.xrange(chave)  # a stream


async def _rastros(pool: asyncpg.Pool, redis: aioredis.Redis, medico_id: int) -> list[str]:
    """Every place in Postgres (every table of the schema, every row, every column as text) and in Redis
    (every key, every value of every type) that still names the doctor."""
    agulhas = [NUMERO, NOME, SOBRENOME, CRM, MARCA]
    achados: list[str] = []
    tabelas = await pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    for (tabela,) in tabelas:
        colunas = {
            r[0]
            for r in await pool.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", tabela
            )
        }
        for linha in await pool.fetch(f'SELECT to_jsonb(t)::text AS texto FROM "{tabela}" t'):
            achados += [f"{tabela}: {a}" for a in agulhas if a in linha["texto"]]
        if "cliente_id" in colunas:
            n = await pool.fetchval(f'SELECT count(*) FROM "{tabela}" WHERE cliente_id = $1', medico_id)
            achados += [f"{tabela}.cliente_id = {medico_id}"] * bool(n)
    async for chave in redis.scan_iter(count=1000):
        texto = f"{chave!r} {await _valor(redis, chave)!r}"
        achados += [f"redis {chave!r}: {a}" for a in [*agulhas, f"medico:{medico_id}}}"] if a in texto]
    return achados


async def test_apagar_nao_deixa_copia_em_postgres_nem_redis(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, redis: aioredis.Redis, externos: Externos
) -> None:
    medico_id = await _medico_com_historico(cliente, base, worker, redis)
    outro_antes = await base.fetchval(
        "SELECT count(*) FROM interacoes i JOIN clientes c ON c.id = i.cliente_id WHERE c.telefone = $1",
        f"+{OUTRO}",
    )
    assert len(await _rastros(base, redis, medico_id)) > 10  # the search finds what is there

    contatos = f"{CHATWOOT}/api/v1/accounts/1/contacts/"
    apagar_contato = externos.router.delete(url__regex=contatos + r"\d+").mock(
        return_value=httpx.Response(200)
    )
    progresso: list[str] = []
    feito = await lgpd.apagar(base, redis, TELEFONE, progresso.append, worker._s.chatwoot)

    assert await _rastros(base, redis, medico_id) == []
    assert feito.linhas["clientes"] == 1
    assert feito.linhas["interacoes"] >= 4
    assert (feito.vagas_liberadas, feito.vagas_anonimizadas) == (1, 1)
    assert feito.chaves_redis >= 1
    assert apagar_contato.calls.last.request.url == f"{contatos}501"  # the contact the mirror created
    assert feito.chatwoot_pendente is None
    assert "Chatwoot contact 501 deleted" in feito.linha()
    assert "+55*******0123" in feito.linha()
    assert NUMERO not in feito.linha()
    assert progresso[0].startswith(f"erasing doctor {medico_id}")
    vagas = await base.fetch("SELECT status, cliente_id, medico_apagado_em FROM vagas ORDER BY data_plantao")
    assert [(v["status"], v["cliente_id"], v["medico_apagado_em"] is None) for v in vagas] == [
        ("preenchida", None, False),
        ("aberta", None, True),
    ]
    evidencia = await base.fetchrow("SELECT telefone_hash, opt_out_em FROM titulares_apagados")
    assert evidencia is not None
    assert bytes(evidencia["telefone_hash"]) == hashlib.sha256(TELEFONE.encode()).digest()
    assert evidencia["opt_out_em"] is not None
    outro_depois = await base.fetchval(
        "SELECT count(*) FROM interacoes i JOIN clientes c ON c.id = i.cliente_id WHERE c.telefone = $1",
        f"+{OUTRO}",
    )
    assert outro_depois == outro_antes > 0

    # Idempotent: again, nothing held, and it says when it was erased.
    de_novo = await lgpd.apagar(base, redis, TELEFONE)
    assert de_novo.ja_apagado_em is not None
    assert "already erased" in de_novo.linha()


async def test_quem_saiu_volta_como_opt_out_e_nao_recebe_claude(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, redis: aioredis.Redis, externos: Externos
) -> None:
    await _medico_com_historico(cliente, base, worker, redis)
    await lgpd.apagar(base, redis, TELEFONE)
    chamadas = externos.claude.call_count

    await postar(cliente, upsert("Oi de novo", numero=NUMERO, msg_id="A9"))
    await drenar(worker, base)

    novo = await base.fetchrow("SELECT status, opt_out_em FROM clientes WHERE telefone = $1", TELEFONE)
    assert novo is not None
    assert novo["status"] == "opt_out"
    assert novo["opt_out_em"] is not None
    assert externos.claude.call_count == chamadas  # a person answers an opted-out number, never Claude


async def test_exportar_traz_cada_tabela_e_o_redis(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, redis: aioredis.Redis, externos: Externos
) -> None:
    medico_id = await _medico_com_historico(cliente, base, worker, redis)

    dados = await lgpd.exportar(base, redis, TELEFONE)

    json.dumps(dados)  # JSON as it comes
    assert dados["clientes"]["id"] == medico_id
    assert dados["clientes"]["sobrenome"] == SOBRENOME
    for tabela, _ in lgpd.TABELAS:
        assert dados[tabela], f"{tabela} exported empty"
    assert any(MARCA in i["conteudo"] for i in dados["interacoes"])
    assert any(NUMERO in chave for chave in dados["redis"])
    assert dados["titulares_apagados"] is None

    sem_chatwoot = await lgpd.apagar(base, redis, TELEFONE)
    assert sem_chatwoot.chatwoot_pendente == "CHATWOOT_* not set for this command"
    assert "Chatwoot contact 501 NOT deleted" in sem_chatwoot.linha()
    depois = await lgpd.exportar(base, redis, TELEFONE)
    assert depois["clientes"] is None
    assert depois["interacoes"] == []
    assert depois["redis"] == {}
    assert depois["titulares_apagados"]["opt_out_em"] is not None


async def test_numero_desconhecido(base: asyncpg.Pool, redis: aioredis.Redis) -> None:
    with pytest.raises(lgpd.TitularDesconhecido, match=r"no doctor or lead has the phone \+55\*{7}1111"):
        await lgpd.apagar(base, redis, "+5511900001111")
    with pytest.raises(lgpd.TitularDesconhecido):
        await lgpd.exportar(base, redis, "+5511900001111")


async def test_retencao_apaga_leads_parados_e_mensagens_velhas_em_lotes(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    numeros = [f"55119000000{i:02d}" for i in range(5)]
    for i, numero in enumerate(numeros):
        await postar(cliente, upsert("Oi", numero=numero, msg_id=f"R{i}"))
    await drenar(worker, base)
    # Leads 0-2 idle for a year; lead 3 idle for a year but qualified (a CRM); lead 4 wrote today.
    await base.execute(
        "UPDATE clientes SET updated_at = now() - interval '1 year' WHERE telefone = ANY($1)",
        [f"+{n}" for n in numeros[:4]],
    )
    await base.execute("UPDATE clientes SET crm = 'CRM-RJ 1' WHERE telefone = $1", f"+{numeros[3]}")
    await base.execute(
        "UPDATE interacoes SET created_at = now() - interval '1 year' WHERE cliente_id IN"
        " (SELECT id FROM clientes WHERE telefone = ANY($1))",
        [f"+{n}" for n in numeros[:4]],
    )
    settings = Settings(lgpd_retencao_leads_dias=180, lgpd_retencao_interacoes_dias=300, lgpd_retencao_lote=2)

    feito = await lgpd.reter(base, settings)

    restantes = {r[0] for r in await base.fetch("SELECT telefone FROM clientes")}
    assert restantes == {f"+{numeros[3]}", f"+{numeros[4]}"}
    assert feito.leads == 3
    # The qualified doctor's year-old messages went by the message period; the new lead's stay.
    assert feito.interacoes == 2
    contagens = await base.fetch(
        "SELECT c.telefone, count(i.id) AS n FROM clientes c LEFT JOIN interacoes i ON i.cliente_id = c.id"
        " GROUP BY c.telefone"
    )
    por_telefone = {r["telefone"]: r["n"] for r in contagens}
    assert por_telefone == {f"+{numeros[3]}": 0, f"+{numeros[4]}": 2}
    assert (await lgpd.reter(base, settings)).linha() == (
        "retention: 0 leads, 0 messages and 0 delivery receipts deleted"
    )


async def test_retencao_apaga_recibos_velhos_em_lotes(base: asyncpg.Pool) -> None:
    """Delivery receipts first heard of more than RECIBOS_RETENCAO_DIAS ago go, in batches of
    LGPD_RETENCAO_LOTE; newer ones stay (issue 36)."""
    await base.execute(
        "INSERT INTO recibos (whatsapp_message_id, estado, status_whatsapp, recebido_em)"
        " SELECT 'wamid.' || g, 'lida', 'READ', now() - make_interval(days => g * 20)"
        " FROM generate_series(1, 7) g"
    )
    settings = Settings(recibos_retencao_dias=90, lgpd_retencao_lote=2)
    feito = await lgpd.reter(base, settings)
    assert feito.recibos == 3  # 100, 120 and 140 days old, two batches
    restantes = await base.fetchval(
        "SELECT array_agg(whatsapp_message_id ORDER BY recebido_em DESC) FROM recibos"
    )
    assert restantes == [f"wamid.{g}" for g in range(1, 5)]


async def test_o_worker_roda_a_retencao_sozinho(
    cliente: httpx.AsyncClient, base: asyncpg.Pool, worker: Worker, settings: Settings, externos: Externos
) -> None:
    await postar(cliente, upsert("Oi", numero=OUTRO, msg_id="W1"))
    await drenar(worker, base)
    await base.execute("UPDATE clientes SET updated_at = now() - interval '1 year'")
    await base.execute("UPDATE interacoes SET created_at = now() - interval '1 year'")
    worker._s.settings = settings.model_copy(update={"lgpd_retencao_intervalo_s": 1})
    parar = asyncio.Event()
    loop = asyncio.create_task(worker._retention_loop(parar))

    async def apagados() -> bool:
        restantes: int = await base.fetchval("SELECT count(*) FROM clientes")
        return restantes == 0

    try:
        await espera.ate(apagados, limite_s=20)
    finally:
        parar.set()
        await loop
