"""An agent's reply in Chatwoot reaches the doctor on WhatsApp through julia, once (issue 36, point 5):
`message_created` in the real wire format (julia.testing.chatwoot), against real Postgres and Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx

from julia.services.relay import NOTE_ATTACHMENT, NOTE_REFUSAL, NOTE_UNKNOWN
from julia.testing.chatwoot import AGENT, eco, message_created
from julia.worker.loop import Worker
from tests.service.conftest import Externals, drain, post, upsert
from tests.service.test_handoff import CHATWOOT_ID, signed

INBOX = 7  # the service tests' CHATWOOT_INBOX_ID
MEDICO = "5511999990000"
RELAYS = "SELECT count(*) FROM fila_mensagens WHERE chatwoot_message_id IS NOT NULL"
DA_5001 = "SELECT {} FROM fila_mensagens WHERE chatwoot_message_id = 5001"


def from_agent(texto: str, message_id: int = 5001, **campos: Any) -> dict[str, Any]:
    return message_created(CHATWOOT_ID, texto, message_id=message_id, inbox_id=INBOX, **campos)


async def _conversa(cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker) -> None:
    """The doctor wrote, Júlia answered: both mirrored to Chatwoot conversation CHATWOOT_ID."""
    await post(cliente, upsert("Oi"))
    await drain(worker, pool)
    assert await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations") == CHATWOOT_ID


def _posted(externals: Externals) -> list[dict[str, Any]]:
    """The bodies of the messages julia posted to Chatwoot (mirrors and private notes)."""
    return [json.loads(c.request.content) for c in externals.message.calls]


async def _nothing_forwarded(
    worker: Worker, pool: asyncpg.Pool, externals: Externals, sent_ones: list[tuple[str, str]]
) -> None:
    """Once the worker has drained: WhatsApp got nothing past `enviados` and no agent's reply is queued."""
    await drain(worker, pool)
    assert externals.sent_texts() == sent_ones
    assert await pool.fetchval(RELAYS) == 0


async def test_agent_reply_reaches_the_medico_once(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa(cliente, pool, worker)
    antes = externals.sent_texts()
    mirrors_before = len(externals.message.calls)
    corpo = from_agent("Oi, aqui é a Marina da equipe. Posso ajudar?")
    first_one = await cliente.post("/webhooks/chatwoot", **signed(corpo))
    assert first_one.status_code == 200
    assert first_one.json() == {"status": "enfileirada"}
    # Chatwoot delivers again (a retry, and two at once): nothing more is queued.
    repeated = [await cliente.post("/webhooks/chatwoot", **signed(corpo))]
    repeated += await asyncio.gather(*(cliente.post("/webhooks/chatwoot", **signed(corpo)) for _ in range(3)))
    assert [r.json()["status"] for r in repeated] == ["repetida"] * 4
    await drain(worker, pool)
    await drain(worker, pool)  # a second pass finds nothing left to send
    assert externals.sent_texts() == [*antes, (MEDICO, "Oi, aqui é a Marina da equipe. Posso ajudar?")]
    # In the doctor's history as the person's, with its WhatsApp id; not mirrored back to Chatwoot.
    story = await pool.fetchrow(
        "SELECT origem, direcao, whatsapp_message_id FROM interacoes WHERE conteudo LIKE 'Oi, aqui é%'"
    )
    assert story is not None
    assert (story["origem"], story["direcao"]) == ("humano", "saida")
    assert story["whatsapp_message_id"] is not None
    assert len(externals.message.calls) == mirrors_before
    linha = await pool.fetchrow(DA_5001.format("status, prioridade"))
    assert linha is not None
    assert (linha["status"], linha["prioridade"]) == ("enviada", 8)  # a reply's rate class


async def test_julias_messages_are_never_sent_again(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Chatwoot echoes every message julia posts (the doctor's mirrored, Júlia's mirrored, private notes)
    as a `message_created` whose sender is the token's user, a person like any agent: julia's mark keeps
    each one from going to WhatsApp again."""
    await _conversa(cliente, pool, worker)
    await post(cliente, upsert("Tem vaga sábado?", msg_id="3EB0SEGUNDA"))
    await drain(worker, pool)
    sent_ones = externals.sent_texts()
    posted_ones = _posted(externals)
    assert {p["message_type"] for p in posted_ones} == {"incoming", "outgoing"}
    assert all(p["source_id"].startswith("julia:") for p in posted_ones)
    for i, posted in enumerate(posted_ones):
        resposta = await cliente.post(
            "/webhooks/chatwoot", **signed(eco(CHATWOOT_ID, posted, message_id=9000 + i, inbox_id=INBOX))
        )
        assert resposta.json()["status"] == "ignorada"
    await _nothing_forwarded(worker, pool, externals, sent_ones)


async def test_private_note_and_other_messages_are_never_sent(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa(cliente, pool, worker)
    sent_ones = externals.sent_texts()
    robot = {"id": 3, "name": "Captain", "type": "agent_bot"}
    will_not = [
        from_agent("Nota interna: ligar para o hospital", privada=True),
        from_agent("Nota sem o campo private", message_id=5002) | {"private": None},
        from_agent("Mensagem de um robô", message_id=5003, sender=robot),
        from_agent("Mensagem de uma automação", message_id=5004) | {"sender": None},
        from_agent("Mensagem do médico", message_id=5005, kind="incoming"),
        from_agent("Pesquisa de satisfação", message_id=5006, kind="template"),
        message_created(CHATWOOT_ID, "Outra caixa", message_id=5007, inbox_id=99),
        from_agent("   ", message_id=5008),
    ]
    for corpo in will_not:
        resposta = await cliente.post("/webhooks/chatwoot", **signed(corpo))
        assert resposta.status_code == 200
        assert resposta.json()["status"] == "ignorada", corpo["content"]
    await _nothing_forwarded(worker, pool, externals, sent_ones)


async def test_medico_in_opt_out_never_gets_it_and_the_agent_knows_why(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await _conversa(cliente, pool, worker)
    await post(cliente, upsert("PARAR", msg_id="3EB0PARAR"))
    await drain(worker, pool)
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    sent_ones = externals.sent_texts()
    corpo = from_agent("Dra., temos uma vaga nova!")
    for expected in ("recusada", "repetida"):  # the redelivery posts no second note
        resposta = await cliente.post("/webhooks/chatwoot", **signed(corpo))
        assert resposta.json() == {"status": expected}
    await drain(worker, pool)
    assert externals.sent_texts() == sent_ones
    notes = [p for p in _posted(externals) if p["private"]]
    assert [n["content"] for n in notes] == [NOTE_REFUSAL]
    assert str(externals.message.calls[-1].request.url).endswith(f"/conversations/{CHATWOOT_ID}/messages")
    linha = await pool.fetchrow(DA_5001.format("status, last_error"))
    assert linha is not None
    assert linha["status"] == "cancelada"
    assert "opt-out" in linha["last_error"]


async def test_opt_out_between_queue_and_send_cancels_and_tells(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Opted out after the reply was queued (the status changed by hand, so no cancelling sweep ran):
    the send-time check stops it, and the agent gets the note from the sender."""
    await _conversa(cliente, pool, worker)
    sent_ones = externals.sent_texts()
    resposta = await cliente.post("/webhooks/chatwoot", **signed(from_agent("Ainda tem interesse?")))
    assert resposta.json() == {"status": "enfileirada"}
    await pool.execute("UPDATE clientes SET status = 'opt_out', opt_out_em = now()")
    await drain(worker, pool)
    assert externals.sent_texts() == sent_ones
    assert await pool.fetchval(DA_5001.format("status")) == "cancelada"
    assert [p["content"] for p in _posted(externals) if p["private"]] == [NOTE_REFUSAL]
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE origem = 'humano'") == 0


async def test_attachment_does_not_go_and_the_agent_knows(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Only text goes to WhatsApp: the text of a message with a photo goes, a photo alone does not, and
    the agent is told each time (once per message)."""
    await _conversa(cliente, pool, worker)
    sent_ones = externals.sent_texts()
    photo_only = from_agent("", message_id=5001, attachments=1)
    with_text = from_agent("Segue a escala", message_id=5002, attachments=2)
    assert (await cliente.post("/webhooks/chatwoot", **signed(photo_only))).json() == {"status": "sem_texto"}
    for expected in ("enfileirada", "repetida"):
        resposta = await cliente.post("/webhooks/chatwoot", **signed(with_text))
        assert resposta.json() == {"status": expected}
    await drain(worker, pool)
    assert externals.sent_texts() == [*sent_ones, (MEDICO, "Segue a escala")]
    assert [p["content"] for p in _posted(externals) if p["private"]] == [NOTE_ATTACHMENT, NOTE_ATTACHMENT]


async def test_unknown_conversa_gets_a_note(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, externals: Externals
) -> None:
    corpo = message_created(4242, "Olá?", message_id=5001, inbox_id=INBOX, sender=AGENT)
    resposta = await cliente.post("/webhooks/chatwoot", **signed(corpo))
    assert resposta.json() == {"status": "desconhecida"}
    assert [(str(c.request.url), json.loads(c.request.content)) for c in externals.message.calls] == [
        (
            "http://chatwoot.test/api/v1/accounts/1/conversations/4242/messages",
            {
                "content": NOTE_UNKNOWN,
                "message_type": "outgoing",
                "private": True,
                "source_id": json.loads(externals.message.calls[0].request.content)["source_id"],
            },
        )
    ]
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 0


async def test_agent_message_requires_the_webhooks_authentication(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    await _conversa(cliente, pool, worker)
    corpo = from_agent("Sem assinatura")
    assert (await cliente.post("/webhooks/chatwoot", json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **signed(corpo, segredo="outro"))).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **signed(corpo, delay_s=3600))).status_code == 401
    assert await pool.fetchval(RELAYS) == 0


async def test_strange_bodies_do_not_bring_down_the_webhook(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Ids Postgres cannot hold, or that are not ids, are ignored; a NUL in the text is dropped (Postgres
    refuses it in text), the message kept."""
    await _conversa(cliente, pool, worker)
    strangers = [
        from_agent("id verdadeiro") | {"id": True},
        from_agent("id enorme") | {"id": 2**63},
        from_agent("id em texto") | {"id": "5001"},
        from_agent("sem conversa") | {"conversation": "812"},
        from_agent("conversa enorme") | {"conversation": {"id": 2**70}},
        from_agent("remetente estranho") | {"sender": ["user"]},
        from_agent("caixa estranha") | {"inbox": 7},
    ]
    for corpo in strangers:
        resposta = await cliente.post("/webhooks/chatwoot", **signed(corpo))
        assert (resposta.status_code, resposta.json()["status"]) == (200, "ignorada"), corpo["content"]
    null = await cliente.post("/webhooks/chatwoot", **signed(from_agent("Olá\x00, doutora")))
    assert null.json() == {"status": "enfileirada"}
    await drain(worker, pool)
    assert externals.sent_texts()[-1] == (MEDICO, "Olá, doutora")
