"""The database itself refuses bad rows (migrations/0001_schema.sql, 0002_indexes.sql), whoever writes them.

Each statement runs in its own transaction, rolled back, on a small private seeded database: the rows it
refers to (a doctor with an active conversation, an inbound message...) are real seeded ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from julia import servers
from julia.db import drop_database
from julia.seed.database import seeded_database
from tests.integration.rollback import rolled_back

DATABASE = "constraints_seed"
ACTIVE = "(SELECT cliente_id FROM conversations WHERE status = 'ativa' ORDER BY id LIMIT 1)"
CONVERSA = "(SELECT id FROM conversations ORDER BY id LIMIT 1)"
CLIENTE = "(SELECT cliente_id FROM conversations ORDER BY id LIMIT 1)"
WHATSAPP = "(SELECT whatsapp_message_id FROM interacoes WHERE whatsapp_message_id IS NOT NULL LIMIT 1)"
VAGA = (
    "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor, status) VALUES "
    "(1, 1, 1, "
)
INTERACAO = (
    "INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo, whatsapp_message_id) VALUES "
)
QUEUE = "INSERT INTO fila_mensagens (cliente_id, conteudo, prioridade, status, tentativas) VALUES (1, "

CHECK, UNIQUE, FOREIGN, NOT_NULL = (
    asyncpg.CheckViolationError,
    asyncpg.UniqueViolationError,
    asyncpg.ForeignKeyViolationError,
    asyncpg.NotNullViolationError,
)

REFUSED = [
    ("phone without +", CHECK, "INSERT INTO clientes (telefone) VALUES ('5511987654321')"),
    ("phone with spaces", CHECK, "INSERT INTO clientes (telefone) VALUES ('+55 11 98765-4321')"),
    ("phone too short", CHECK, "INSERT INTO clientes (telefone) VALUES ('+551198')"),
    ("phone starting with 0", CHECK, "INSERT INTO clientes (telefone) VALUES ('+0551198765432')"),
    ("duplicate phone", UNIQUE, "INSERT INTO clientes (telefone) SELECT telefone FROM clientes WHERE id = 1"),
    (
        "unknown doctor status",
        CHECK,
        "INSERT INTO clientes (telefone, status) VALUES ('+5511987650000', 'vip')",
    ),
    (
        "preferences not an object",
        CHECK,
        "INSERT INTO clientes (telefone, preferencias) VALUES ('+5511987650000', '[]')",
    ),
    (
        "unknown specialty",
        FOREIGN,
        "INSERT INTO clientes (telefone, especialidade_id) VALUES ('+5511987650000', 999)",
    ),
    ("two active conversations", UNIQUE, f"INSERT INTO conversations (cliente_id) SELECT {ACTIVE}"),
    (
        "unknown conversation status",
        CHECK,
        "INSERT INTO conversations (cliente_id, status) VALUES (1, 'pausada')",
    ),
    (
        "unknown controller",
        CHECK,
        "INSERT INTO conversations (cliente_id, status, encerrada_em, controlled_by) "
        "VALUES (1, 'encerrada', now(), 'bot')",
    ),
    (
        "closed without closing time",
        CHECK,
        "INSERT INTO conversations (cliente_id, status) VALUES (1, 'encerrada')",
    ),
    (
        "active with closing time",
        CHECK,
        "INSERT INTO conversations (cliente_id, status, encerrada_em) VALUES (1, 'ativa', now())",
    ),
    ("conversation of nobody", FOREIGN, "INSERT INTO conversations (cliente_id) VALUES (10000000)"),
    (
        "duplicate WhatsApp id",
        UNIQUE,
        f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'entrada', 'medico', 'oi', {WHATSAPP})",
    ),
    ("inbound from julia", CHECK, f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'entrada', 'julia', 'oi', NULL)"),
    ("outbound from the doctor", CHECK, f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'saida', 'medico', 'oi', NULL)"),
    ("unknown direction", CHECK, f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'lateral', 'humano', 'oi', NULL)"),
    (
        "interaction without content",
        NOT_NULL,
        f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'saida', 'julia', NULL, NULL)",
    ),
    ("interaction of no conversation", FOREIGN, f"{INTERACAO}(10000000, 1, 'saida', 'julia', 'oi', NULL)"),
    ("negative value", CHECK, f"{VAGA}current_date, -100, 'aberta')"),
    ("zero value", CHECK, f"{VAGA}current_date, 0, 'aberta')"),
    ("unknown shift status", CHECK, f"{VAGA}current_date, 1500, 'vendida')"),
    ("reserved shift without a doctor", CHECK, f"{VAGA}current_date, 1500, 'reservada')"),
    ("filled shift without a doctor", CHECK, f"{VAGA}current_date, 1500, 'preenchida')"),
    (
        "open shift held by a doctor",
        CHECK,
        "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor, cliente_id, "
        "reservada_em) VALUES (1, 1, 1, current_date, 1500, 1, now())",
    ),
    (
        "shift held by an unknown doctor",
        FOREIGN,
        "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor, status, "
        "cliente_id, reservada_em) VALUES (1, 1, 1, current_date, 1500, 'reservada', 99999999, now())",
    ),
    (
        "shift in no hospital",
        FOREIGN,
        "INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, "
        "valor) VALUES (999999, 1, 1, current_date, 1500)",
    ),
    ("priority above 10", CHECK, f"{QUEUE}'oi', 11, 'pendente', 0)"),
    ("negative priority", CHECK, f"{QUEUE}'oi', -1, 'pendente', 0)"),
    ("unknown queue status", CHECK, f"{QUEUE}'oi', 5, 'perdida', 0)"),
    ("negative attempts", CHECK, f"{QUEUE}'oi', 5, 'pendente', -1)"),
    ("empty message", CHECK, f"{QUEUE}'', 5, 'pendente', 0)"),
    (
        "unknown handoff status",
        CHECK,
        f"INSERT INTO handoffs (conversa_id, cliente_id, motivo, status) VALUES ({CONVERSA}, {CLIENTE}, 'x', "
        "'aberto')",
    ),
    (
        "blank handoff reason",
        CHECK,
        f"INSERT INTO handoffs (conversa_id, cliente_id, motivo) VALUES ({CONVERSA}, {CLIENTE}, '  ')",
    ),
    ("lowercase state", CHECK, "INSERT INTO hospitais (nome, cidade, estado) VALUES ('H', 'Santos', 'sp')"),
    (
        "duplicate specialty",
        UNIQUE,
        "INSERT INTO especialidades (nome) SELECT nome FROM especialidades WHERE id = 1",
    ),
]

# The same shapes with good values go in: each refusal above is about its bad value, not the statement.
ACCEPTED = [
    ("a Brazilian mobile", "INSERT INTO clientes (telefone) VALUES ('+5511987650000')"),
    (
        "a closed conversation beside the active one",
        f"INSERT INTO conversations (cliente_id, status, encerrada_em) SELECT {ACTIVE}, 'encerrada', now()",
    ),
    (
        "outbound messages without a WhatsApp id",
        f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'saida', 'julia', 'a', NULL), "
        f"({CONVERSA}, {CLIENTE}, 'saida', 'humano', 'b', NULL)",
    ),
    (
        "inbound with a new WhatsApp id",
        f"{INTERACAO}({CONVERSA}, {CLIENTE}, 'entrada', 'medico', 'oi', 'NOVO1')",
    ),
    ("a shift", f"{VAGA}current_date, 1500.00, 'aberta')"),
    ("priorities 0 and 10", f"{QUEUE}'oi', 0, 'pendente', 0), (1, 'oi', 10, 'enviada', 1)"),
    (
        "a handoff",
        f"INSERT INTO handoffs (conversa_id, cliente_id, motivo) VALUES ({CONVERSA}, {CLIENTE}, 'valor')",
    ),
]


async def _alone(conn: asyncpg.Connection, statement: str) -> None:
    async with conn.transaction():
        await conn.execute(statement)


@pytest.fixture(scope="module")
async def conn(services: servers.Servers) -> AsyncIterator[asyncpg.Connection]:
    dsn, _ = await seeded_database(services.database_url, DATABASE, 50, today=dt.date(2026, 3, 2))
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()
    await drop_database(services.database_url, DATABASE)


@pytest.mark.parametrize(("error", "statement"), [pytest.param(e, s, id=i) for i, e, s in REFUSED])
async def test_bad_rows_are_refused(conn: asyncpg.Connection, error: type[Exception], statement: str) -> None:
    with pytest.raises(error):
        await _alone(conn, statement)


@pytest.mark.parametrize("statement", [pytest.param(s, id=i) for i, s in ACCEPTED])
async def test_good_rows_are_accepted(conn: asyncpg.Connection, statement: str) -> None:
    async with rolled_back(conn):
        await conn.execute(statement)
