"""Inbound message -> Claude -> queued reply -> exactly one sendText, and every way that can fail."""

from __future__ import annotations

import dataclasses
import json

import asyncpg
import httpx
import pytest

from julia.data import conversations
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from julia.worker.reply import AVISO_HANDOFF
from tests.service.conftest import KEY, Externals, claude_error, claude_reply, drain, post, upsert


async def test_one_webhook_one_reply_with_claudes_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=None, return_value=claude_reply("Oi! Temos plantões na sua área."))
    await post(cliente, upsert("Oi, tem plantão?"))
    await drain(worker, pool)

    assert externals.sent_texts() == [("5511999990000", "Oi! Temos plantões na sua área.")]
    assert externals.envio.calls.last.request.headers["apikey"] == KEY
    pedido = json.loads(externals.claude.calls.last.request.content)
    assert pedido["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Júlia" in pedido["system"][0]["text"]
    assert "cache_control" not in pedido["system"][1]
    assert pedido["messages"] == [{"role": "user", "content": "Oi, tem plantão?"}]
    queue = await pool.fetchrow("SELECT status, tentativas, whatsapp_message_id FROM fila_mensagens")
    assert queue is not None
    assert queue["status"] == "enviada"
    assert queue["whatsapp_message_id"].startswith("3EB0")
    output = await pool.fetchval(
        "SELECT conteudo FROM interacoes WHERE direcao = 'saida' AND origem = 'julia'"
    )
    assert output == "Oi! Temos plantões na sua área."
    assert await pool.fetchval("SELECT status FROM entradas") == "feita"


async def test_redelivery_makes_no_second_reply(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert())
    await drain(worker, pool)
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.envio.call_count == 1
    assert externals.claude.call_count == 1


async def test_own_group_and_status_messages_without_reply(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert(from_me=True))
    await post(cliente, upsert(jid="120363025246125888@g.us", msg_id="G1"))
    await post(cliente, upsert(jid="status@broadcast", msg_id="S1"))
    await drain(worker, pool)
    assert externals.envio.call_count == 0
    assert externals.claude.call_count == 0


async def test_human_conversa_without_ai_reply_only_mirror(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert("primeira", msg_id="A"))
    await drain(worker, pool)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await post(cliente, upsert("segunda", msg_id="B"))
    await drain(worker, pool)
    assert externals.envio.call_count == 1  # only the reply to "primeira"
    assert externals.claude.call_count == 1
    mirrored_ones = externals.mirrored_ones()
    assert {"content": "segunda", "message_type": "incoming", "private": False} in mirrored_ones


@pytest.mark.parametrize("status", ["opt_out", "bloqueado"])
async def test_medico_who_left_or_was_blocked_gets_no_reply(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals, status: str
) -> None:
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, status) VALUES ('+5511999990000', 'Ana', $1)", status
    )
    await post(cliente, upsert("Tem plantão amanhã?"))
    await drain(worker, pool)
    assert externals.claude.call_count == 0
    assert externals.envio.call_count == 0
    assert await pool.fetchval("SELECT status FROM entradas") == "feita"
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 1
    mirrored_ones = externals.mirrored_ones()
    assert {"content": "Tem plantão amanhã?", "message_type": "incoming", "private": False} in mirrored_ones


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The conversations the mirror reads from Postgres (ler_conversa still runs: only counted)."""
    lidas: list[int] = []
    ler_conversa = conversations.ler_conversa

    async def count_read(db: asyncpg.Pool, conversa_id: int) -> conversations.ConversaWithMedico | None:
        lidas.append(conversa_id)
        return await ler_conversa(db, conversa_id)

    monkeypatch.setattr(conversations, "ler_conversa", count_read)
    return lidas


async def test_chatwoot_mirror_creates_contact_and_conversa_once(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals, reads: list[int]
) -> None:
    await post(cliente, upsert("um", msg_id="A"))
    await drain(worker, pool)
    await post(cliente, upsert("dois", msg_id="B"))
    await drain(worker, pool)
    assert externals.contato.call_count == 1
    assert externals.conversa.call_count == 1
    assert json.loads(externals.contato.calls.last.request.content) == {
        "inbox_id": 7,
        "name": "+5511999990000",
        "phone_number": "+5511999990000",
    }
    assert json.loads(externals.conversa.calls.last.request.content) == {
        "source_id": "src-501",
        "inbox_id": 7,
        "contact_id": 501,
    }
    kinds = [json.loads(c.request.content)["message_type"] for c in externals.message.calls]
    assert sorted(kinds) == ["incoming", "incoming", "outgoing", "outgoing"]
    assert externals.message.calls.last.request.headers["api_access_token"] == "tok"
    ids = await pool.fetchrow(
        "SELECT cl.chatwoot_contact_id, c.chatwoot_conversation_id FROM clientes cl JOIN conversations c"
        " ON c.cliente_id = cl.id"
    )
    assert ids is not None
    assert (ids[0], ids[1]) == (501, 901)
    assert len(reads) == 1  # four mirrors, one read: the process remembers the Chatwoot id


async def test_mirror_uses_the_chatwoot_id_the_inbound_brought_without_reading_the_conversa(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    worker: Worker,
    backing_servers: WorkerContext,
    externals: Externals,
    reads: list[int],
) -> None:
    # A doctor answering a campaign: julia mirrored the campaign, so the conversation's Chatwoot id is
    # stored, and the inbound claim returns it with the message.
    await post(cliente, upsert("um", msg_id="A"))
    await drain(worker, pool)
    backing_servers.chatwoot_ids.clear()  # as a worker process that never saw this conversation
    reads.clear()
    await post(cliente, upsert("dois", msg_id="B"))
    await drain(worker, pool)
    assert reads == []  # both mirrors of the second message: the incoming's id came with the claim
    last_ones = [json.loads(c.request.content) for c in externals.message.calls][-2:]
    assert sorted(m["message_type"] for m in last_ones) == ["incoming", "outgoing"]
    assert {str(c.request.url).rsplit("/conversations/", 1)[1] for c in externals.message.calls} == {
        "901/messages"
    }


async def test_chatwoot_down_does_not_stop_the_reply(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.contato.mock(return_value=httpx.Response(500, json={"error": "down"}))
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.envio.call_count == 1


async def test_claude_429_and_529_retried_by_the_sdk(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(
        side_effect=[
            claude_error(429, "rate_limit_error"),
            claude_error(529, "overloaded_error"),
            claude_reply("Enfim!"),
        ]
    )
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.claude.call_count == 3
    assert externals.sent_texts() == [("5511999990000", "Enfim!")]


async def test_claude_timeout_retentado(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=[httpx.ReadTimeout("timed out"), claude_reply("Depois do timeout")])
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.sent_texts() == [("5511999990000", "Depois do timeout")]


async def test_claude_failing_after_the_retries_returns_to_the_queue(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """The SDK's 3 attempts fail, then the worker's next try succeeds: the reply still goes out."""
    externals.claude.mock(side_effect=[claude_error(500, "api_error")] * 3 + [claude_reply("Voltei")])
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.sent_texts() == [("5511999990000", "Voltei")]
    assert await pool.fetchval("SELECT tentativas FROM entradas") == 2


async def test_claude_always_down_ends_in_error_with_the_reason(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=lambda r: claude_error(500, "api_error"))
    await post(cliente, upsert())
    await drain(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 3)
    assert "claude: HTTP 500" in linha["last_error"]
    assert externals.claude.call_count == 9  # 3 tries x (1 + 2 SDK retries)
    assert externals.envio.call_count == 0
    # The doctor's message is kept, not lost.
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 1


async def test_rate_limit_beyond_the_retries_spends_no_attempts(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Five attempts end on a 429 or 529 the SDK's retries did not outlast (more than the three tries a
    message has): each is a wait, not a failure, and the sixth answers."""
    limited = [claude_error(429, "rate_limit_error")] * 9 + [claude_error(529, "overloaded_error")] * 6
    externals.claude.mock(side_effect=[*limited, claude_reply("Agora sim")])
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.sent_texts() == [("5511999990000", "Agora sim")]
    linha = await pool.fetchrow("SELECT status, tentativas, esperas FROM entradas")
    assert linha is not None
    assert tuple(linha) == ("feita", 6, 5)


async def test_rate_limit_that_never_passes_ends_in_error(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    worker: Worker,
    externals: Externals,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The waits are bounded: after ESPERAS_MAX of them a 429 counts as a try, and the row ends in 'erro'
    with the reason after the usual three."""
    policy = worker.entradas.policy
    monkeypatch.setattr(
        worker.entradas,
        "policy",
        dataclasses.replace(policy, waits=dataclasses.replace(policy.waits, max_tries=2)),
    )
    externals.claude.mock(side_effect=lambda r: claude_error(429, "rate_limit_error"))
    await post(cliente, upsert())
    await drain(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, esperas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"], linha["esperas"]) == ("erro", 5, 2)
    assert "claude: HTTP 429" in linha["last_error"]
    assert externals.sent_texts() == []
    assert externals.claude.call_count == 15  # 5 tries x (1 + 2 SDK retries)


async def test_claude_timeouts_always_end_in_error(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=httpx.ReadTimeout("timed out"))
    await post(cliente, upsert())
    await drain(worker, pool)
    linha = await pool.fetchrow("SELECT status, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["last_error"]) == ("erro", "claude: timeout")


async def test_number_not_on_whatsapp_is_not_retried(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.envio.mock(
        side_effect=None,
        return_value=httpx.Response(
            400,
            json={
                "status": 400,
                "error": "Bad Request",
                "response": {
                    "message": [
                        {"jid": "5511999990000@s.whatsapp.net", "exists": False, "number": "5511999990000"}
                    ]
                },
            },
        ),
    )
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.envio.call_count == 1
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 1)
    assert '"exists":false' in linha["last_error"]
    # LGPD: the number Evolution named is masked in what julia keeps (julia/masking.py).
    assert "5511999990000" not in linha["last_error"]
    assert '"jid":"55*******0000@s.whatsapp.net"' in linha["last_error"]


async def test_evolution_5xx_retried_until_sent(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    ok = httpx.Response(
        201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "fromMe": True, "id": "3EB0X"}}
    )
    externals.envio.mock(
        side_effect=[httpx.Response(500, json={"status": 500}), httpx.ConnectError("refused"), ok]
    )
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.envio.call_count == 3
    linha = await pool.fetchrow("SELECT status, tentativas FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("enviada", 3)


async def test_evolution_always_down_ends_in_error(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.envio.mock(side_effect=None, return_value=httpx.Response(503, text="unavailable"))
    await post(cliente, upsert())
    await drain(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 5)
    assert linha["last_error"].startswith("evolution: HTTP 503")


async def test_interrupted_send_stays_uncertain_and_is_not_resent(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """A sender killed during the HTTP call leaves its row 'enviando': once its lease is over the sweep
    holds it as 'incerto' for a person, and no sender sends it again."""
    await post(cliente, upsert())
    tarefas = await worker.claim_inbound(10)
    await worker._attempt(tarefas[0])
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'enviando', tentativas = 1, envio_iniciado_em = now(),"
        " locked_until = now() - interval '1 second'"
    )
    await drain(worker, pool)
    assert externals.envio.call_count == 0
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens")
    assert linha is not None
    assert linha["status"] == "incerto"
    assert "may or may not have reached the doctor" in linha["last_error"]


async def test_medico_asks_for_a_human(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert("Quero falar com uma pessoa, por favor"))
    await drain(worker, pool)
    assert externals.claude.call_count == 0
    assert externals.sent_texts() == [("5511999990000", AVISO_HANDOFF)]
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert await pool.fetchval("SELECT count(*) FROM handoffs WHERE status = 'pendente'") == 1
    assert externals.slack.call_count == 1
    assert json.loads(externals.labels.calls.last.request.content) == {"labels": ["plantao", "humano"]}
    await post(cliente, upsert("Alô?", msg_id="B"))
    await drain(worker, pool)
    assert externals.envio.call_count == 1
    assert externals.slack.call_count == 1
