"""Issue 33, "no silence" and "opt-out always wins": every message a person wrote is stored, mirrored and
answered as what it is, with Evolution 2.3.6's own bodies (tests/support/evolution/) against real
Postgres and Redis, Claude and Evolution faked in their wire formats."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import httpx2
import redis.asyncio as aioredis

from julia.api.app import create_app
from julia.services.opt_out import CONFIRMATION, CONFIRMATION_BY_TEAM
from julia.settings import Settings
from julia.testing import claude
from julia.worker.loop import Worker
from julia.worker.reply import ASK_TEXT, AVISO_HANDOFF, CHANGE_AVISO, DELAY_APOLOGY
from tests.service.conftest import (
    METRICS,
    USO_CACHE,
    Externals,
    claude_error,
    claude_reply,
    drain,
    eco_claude,
    post,
    upsert,
)
from tests.service.test_campanhas import _campanha_already_due

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "evolution"
PHONE = "+5511999990000"
NUMBER = "5511999990000"


def corpo(nome: str, *, now: bool = True, msg_id: str | None = None) -> dict[str, Any]:
    """An Evolution body from the fixtures; `agora`: sent now (the fixtures carry their real, 2024 time)."""
    read_one: dict[str, Any] = json.loads((FIXTURES / f"{nome}.json").read_text(encoding="utf-8"))
    dados = read_one["data"]
    if now and "messageTimestamp" in dados:
        dados["messageTimestamp"] = int(time.time())
    if msg_id is not None:
        dados["key"]["id"] = msg_id
    return read_one


def claude_request(externals: Externals, n: int = -1) -> dict[str, Any]:
    request_body: dict[str, Any] = json.loads(externals.claude.calls[n].request.content)
    return request_body


def last_words(externals: Externals) -> str:
    conteudo: str = claude_request(externals)["messages"][-1]["content"]
    return conteudo


def stopped(texto: str, motivo: str) -> httpx.Response:
    """Claude's answer ending with `stop_reason` `motivo`."""
    blocks = [claude.texto(texto)] if texto else []
    response_body = claude.message(
        "claude-sonnet-4-6", blocks, motivo, "msg_09", {"input_tokens": 9, "output_tokens": 512, **USO_CACHE}
    )
    return httpx.Response(200, headers={"request-id": "req_9"}, json=response_body)


async def entradas(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    linhas = await pool.fetch(
        "SELECT i.conteudo, e.tratamento, e.status FROM entradas e JOIN interacoes i ON i.id = e.interacao_id"
        " ORDER BY e.id"
    )
    return [(r["conteudo"], r["tratamento"], r["status"]) for r in linhas]


async def conversa_com_julia(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals, offer: str
) -> None:
    """A first exchange whose reply, Júlia's offer, carries the WhatsApp id the fixtures point at."""
    externals.claude.mock(side_effect=[claude_reply(offer)])
    await post(cliente, upsert("Oi", msg_id="3EB0ORIGINAL0001"))
    await drain(worker, pool)
    await pool.execute(
        "UPDATE interacoes SET whatsapp_message_id = '3EB0JULIA0001'"
        " WHERE direcao = 'saida' AND conteudo = $1",
        offer,
    )
    externals.claude.reset()
    externals.claude.mock(side_effect=eco_claude)


# --- media, captions, voice -----------------------------------------------------------------------


async def test_voice_note_is_stored_mirrored_and_answered_with_text_request_without_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    resposta = await post(cliente, corpo("audio_voz"))
    assert (resposta.status_code, resposta.json()["status"]) == (200, "recebida")
    await drain(worker, pool)
    assert await entradas(pool) == [("[mensagem de voz]", "pedir_texto", "feita")]
    assert externals.claude.call_count == 0
    assert externals.sent_texts() == [(NUMBER, ASK_TEXT)]
    mirrored = [json.loads(c.request.content)["content"] for c in externals.message.calls]
    assert "[mensagem de voz]" in mirrored


async def test_a_burst_of_voice_notes_gets_one_ask_for_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    for i in range(3):
        await post(cliente, corpo("audio_voz", msg_id=f"AUDIO{i}"))
    await drain(worker, pool)
    assert [e[1:] for e in await entradas(pool)] == [("pedir_texto", "feita")] * 3
    assert externals.sent_texts() == [(NUMBER, ASK_TEXT)]


async def test_image_caption_reaches_claude_as_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, corpo("imagem_legenda"))
    await drain(worker, pool)
    texto = "[imagem com a legenda:] Meu CRM, pode reservar o de sábado"
    assert await entradas(pool) == [(texto, "responder", "feita")]
    assert last_words(externals) == texto
    assert externals.sent_texts() == [(NUMBER, f"Resposta a: {texto}")]


async def test_image_without_caption_gets_the_text_request(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    without_caption = corpo("imagem_legenda")
    del without_caption["data"]["message"]["imageMessage"]["caption"]
    await post(cliente, without_caption)
    await drain(worker, pool)
    assert await entradas(pool) == [("[imagem]", "pedir_texto", "feita")]
    assert externals.claude.call_count == 0
    assert externals.sent_texts() == [(NUMBER, ASK_TEXT)]


async def test_reaction_reaches_claude_as_a_reaction_to_julias_message(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    offer = "Tenho plantão sábado 7h-19h no São Lucas, R$ 1.800. Tem interesse?"
    await conversa_com_julia(cliente, pool, worker, externals, offer)
    await post(cliente, corpo("reacao"))
    await drain(worker, pool)
    assert last_words(externals) == f'[reagiu com 👍 à mensagem: "{offer}"]'
    # Taken back (text ""): nothing to store.
    withdrawn = corpo("reacao", msg_id="3EB0REACAO0002")
    withdrawn["data"]["message"]["reactionMessage"]["text"] = ""
    assert (await post(cliente, withdrawn)).json()["status"] == "ignorada"


async def test_quoted_reply_passes_the_quoted_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, corpo("resposta_citada"))
    await drain(worker, pool)
    assert last_words(externals) == (
        '[em resposta a: "Plantão sábado 7h-19h no Hospital São Lucas, R$ 1.800. Tem interesse?"] '
        "Sim, quero esse"
    )


async def test_button_and_list_replies_are_their_selected_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    button = corpo("texto_antigo", msg_id="B1")
    button["data"]["message"] = {
        "buttonsResponseMessage": {"selectedButtonId": "sim", "selectedDisplayText": "Sim"}
    }
    listing = corpo("texto_antigo", msg_id="L1")
    listing["data"]["message"] = {
        "listResponseMessage": {"title": "Sábado", "singleSelectReply": {"selectedRowId": "v42"}}
    }
    await post(cliente, button)
    await post(cliente, listing)
    await drain(worker, pool)
    assert [e[0] for e in await entradas(pool)] == ["Sim", "Sábado"]
    assert externals.claude.call_count == 2


# --- a sender with no phone, old messages -----------------------------------------------------------


async def test_lid_without_alt_is_kept_not_refused(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    first_one = await post(cliente, corpo("lid_sem_alt"))
    assert (first_one.status_code, first_one.json()) == (200, {"status": "sem_telefone"})
    assert (await post(cliente, corpo("lid_sem_alt"))).json() == {"status": "duplicada"}
    linha = await pool.fetchrow("SELECT jid, whatsapp_message_id, conteudo, nome FROM mensagens_sem_telefone")
    assert linha is not None
    assert dict(linha) == {
        "jid": "107283991239804@lid",
        "whatsapp_message_id": "3EB0LID0001",
        "conteudo": "Bom dia, tem plantão amanhã?",
        "nome": "Dra. Ana",
    }
    metrics = (await cliente.get("/metrics", headers=METRICS)).text
    assert (
        'julia_webhook_evolution_eventos_total{evento="messages.upsert",resultado="sem_telefone"} 1.0'
        in metrics
    )


async def test_old_messages_get_one_apology_per_conversation_and_no_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    for i in range(3):
        await post(cliente, corpo("texto_antigo", now=False, msg_id=f"ANTIGA{i}"))
    await post(cliente, corpo("audio_voz", now=False, msg_id="ANTIGA3"))
    await drain(worker, pool)
    assert [e[1:] for e in await entradas(pool)] == [("desculpar", "feita")] * 4
    assert externals.claude.call_count == 0
    assert externals.sent_texts() == [(NUMBER, DELAY_APOLOGY)]
    assert len(externals.message.calls) >= 4  # each one mirrored
    # A fresh message after the backlog is answered as usual, the old ones in its history.
    await post(cliente, upsert("E aí, tem plantão?", msg_id="NOVA"))
    await drain(worker, pool)
    assert externals.claude.call_count == 1
    assert "ainda tem o plantão de sexta" in json.dumps(
        claude_request(externals)["messages"], ensure_ascii=False
    )


# --- edits and deletes ------------------------------------------------------------------------------


async def test_edit_is_answered_with_the_original_quoted(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await conversa_com_julia(cliente, pool, worker, externals, "Temos plantão sábado. Quer?")
    resposta = await post(cliente, corpo("edicao"))
    assert resposta.json()["status"] == "recebida"
    await drain(worker, pool)
    assert last_words(externals).endswith('[editou a mensagem "Oi" para:] Na verdade, prefiro o de domingo')
    assert (await post(cliente, corpo("edicao"))).json()["status"] == "duplicada"


async def test_delete_of_a_message_that_reserved_a_shift_goes_to_a_person(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await conversa_com_julia(cliente, pool, worker, externals, "Reservado o de sábado.")
    original = await pool.fetchrow(
        "SELECT id, conversa_id FROM interacoes WHERE whatsapp_message_id = '3EB0ORIGINAL0001'"
    )
    assert original is not None
    await pool.execute(
        "INSERT INTO chamadas_ferramenta (conversa_id, interacao_id, ferramenta, entrada, resultado, erro)"
        " VALUES ($1, $2, 'reservar_vaga', '{\"vaga_id\": 1}',"
        ' \'{"reservada": true, "vaga_id": 1}\', false)',
        original["conversa_id"],
        original["id"],
    )
    sends_before = len(externals.sent_texts())
    await post(cliente, corpo("remocao"))
    await drain(worker, pool)
    assert (await entradas(pool))[-1] == ('[apagou a mensagem: "Oi"]', "passar", "feita")
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert externals.sent_texts()[sends_before:] == [(NUMBER, CHANGE_AVISO)]
    assert externals.claude.call_count == 0


async def test_delete_of_an_ordinary_message_is_stored_and_mirrored_only(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await conversa_com_julia(cliente, pool, worker, externals, "Temos plantão sábado. Quer?")
    sends_before = len(externals.sent_texts())
    await post(cliente, corpo("remocao"))
    await drain(worker, pool)
    assert (await entradas(pool))[-1] == ('[apagou a mensagem: "Oi"]', "registrar", "feita")
    assert len(externals.sent_texts()) == sends_before
    unknown_one = corpo("remocao")
    unknown_one["data"]["id"] = "3EB0NUNCAVISTA"
    assert (await post(cliente, unknown_one)).json()["status"] == "desconhecida"


# --- opt-out always wins ------------------------------------------------------------------------------


async def test_parar_under_a_handoff_opts_out_at_the_webhook_and_cancels_queued_replies(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert("Oi", msg_id="M1"))
    await drain(worker, pool)
    conversa = await pool.fetchval("UPDATE conversations SET controlled_by = 'humano' RETURNING id")
    medico = await pool.fetchval("SELECT id FROM clientes")
    # A reply queued and not yet sent (a person's, or Júlia's from before the handoff).
    await pool.execute(
        "INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade)"
        " VALUES ($1, $2, 'ainda?', 8)",
        medico,
        conversa,
    )
    sends_before = len(externals.sent_texts())
    resposta = await post(cliente, upsert("PARAR", msg_id="M2"))
    assert resposta.json()["status"] == "opt_out"
    # Registered by the webhook itself, before any worker ran.
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    queues = await pool.fetch(
        "SELECT conteudo, status FROM fila_mensagens WHERE status <> 'enviada' ORDER BY id"
    )
    assert [tuple(f) for f in queues] == [("ainda?", "cancelada"), (CONFIRMATION_BY_TEAM, "pendente")]
    await drain(worker, pool)
    assert externals.sent_texts()[sends_before:] == [(NUMBER, CONFIRMATION_BY_TEAM)]
    assert (await entradas(pool))[-1] == ("PARAR", "registrar", "feita")


async def test_opt_out_confirmation_promises_no_person_without_chatwoot(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, http: httpx2.AsyncClient
) -> None:
    without_chatwoot = settings.model_copy(update={"chatwoot_url": None})
    app = create_app(without_chatwoot, pool=pool, redis=redis, http=http)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as c:
        assert (await post(c, upsert("Sair"))).json()["status"] == "opt_out"
    assert await pool.fetchval("SELECT conteudo FROM fila_mensagens") == CONFIRMATION


async def test_a_reply_written_while_the_doctor_opted_out_is_not_queued(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """PARAR lands while Claude writes the answer to the doctor's previous message: the opt-out wins."""
    await post(cliente, upsert("Tem plantão sábado?", msg_id="M1"))
    [task] = await worker.claim_inbound(5)
    await post(cliente, upsert("PARAR", msg_id="M2"))
    await worker._attempt(task)
    await drain(worker, pool)
    assert externals.sent_texts() == [(NUMBER, CONFIRMATION_BY_TEAM)]


async def test_backstop_registers_an_opt_out_claude_confirmed_without_the_tool(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=[claude_reply("Tudo bem! Você não vai mais receber nossas ofertas.")])
    await post(cliente, upsert("me esquece, chega de mensagem"))
    await drain(worker, pool)
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    assert externals.sent_texts() == [(NUMBER, CONFIRMATION_BY_TEAM)]


async def test_the_prompt_names_the_opt_out_tool(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    await post(cliente, upsert("Oi"))
    await drain(worker, pool)
    pedido = claude_request(externals)
    assert "registrar_opt_out" in pedido["system"][0]["text"]
    assert await pool.fetchval("SELECT versao_prompt FROM interacoes WHERE direcao = 'saida'") == "v3"


# --- Claude's stop_reason -----------------------------------------------------------------------------


async def test_max_tokens_cut_is_sent_up_to_its_last_full_sentence(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(
        side_effect=[stopped("Temos plantão sábado no São Lucas. O valor é R$ 1.8", "max_tokens")]
    )
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.sent_texts() == [(NUMBER, "Temos plantão sábado no São Lucas.")]


async def test_refusal_is_not_retried_and_a_person_answers(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=[stopped("", "refusal")] * 5)
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.claude.call_count == 1
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert "refusal" in await pool.fetchval("SELECT motivo FROM handoffs")
    assert externals.sent_texts() == [(NUMBER, AVISO_HANDOFF)]


async def test_prompt_too_long_400_is_not_retried_as_transient(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    externals.claude.mock(side_effect=[claude_error(400, "invalid_request_error")] * 5)
    await post(cliente, upsert())
    await drain(worker, pool)
    assert externals.claude.call_count == 1
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert externals.sent_texts() == [(NUMBER, AVISO_HANDOFF)]


async def test_a_huge_message_is_cut_before_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externals: Externals
) -> None:
    huge = "plantão " * 8_000  # 64,000 characters
    await post(cliente, upsert(huge))
    await drain(worker, pool)
    stored_one = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'entrada'")
    assert len(stored_one) == settings.inbound_max_chars  # INBOUND_MAX_CHARS: stored and sent alike
    assert stored_one.endswith("…")
    sent = claude_request(externals)["messages"][-1]["content"]
    assert sent.endswith(stored_one)


async def test_campaigns_skip_doctors_in_a_handoff_or_an_active_conversation(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externals: Externals
) -> None:
    for numero in ("5511900000001", "5511900000002"):
        await post(cliente, upsert("Oi", numero=numero, msg_id=f"A{numero}"))
    await drain(worker, pool)
    # ...02 wrote two days ago, and a person holds the conversation; ...03 never wrote.
    await pool.execute(
        "UPDATE interacoes SET created_at = now() - interval '2 days'"
        " WHERE cliente_id = (SELECT id FROM clientes WHERE telefone = '+5511900000002')"
    )
    await pool.execute(
        "UPDATE conversations SET controlled_by = 'humano'"
        " WHERE cliente_id = (SELECT id FROM clientes WHERE telefone = '+5511900000002')"
    )
    await pool.execute("INSERT INTO clientes (telefone, status) VALUES ('+5511900000003', 'ativo')")
    await pool.execute("UPDATE clientes SET tags = '{cardio}', status = 'ativo'")
    sends_before = len(externals.sent_texts())
    all_day = settings.model_copy(update={"campanha_hora_inicio": 0, "campanha_hora_fim": 24})
    await _campanha_already_due(pool, all_day)
    await drain(worker, pool, due_only=True)
    assert [n for n, _ in externals.sent_texts()[sends_before:]] == ["5511900000003"]
    # Put off, not cancelled (issue 36): tried again CAMPANHA_CONVERSATION_RETRY_S later, the claim not
    # counted against the row's tries.
    postponed = await pool.fetch(
        "SELECT cl.telefone, f.last_error, f.tentativas,"
        " extract(epoch FROM f.agendar_para - now())::float8 AS em_s"
        " FROM fila_mensagens f JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id IS NOT NULL AND f.status = 'pendente' ORDER BY cl.telefone"
    )
    assert [r["telefone"] for r in postponed] == ["+5511900000001", "+5511900000002"]
    assert all(r["last_error"].startswith("médico em conversa") for r in postponed)
    assert all(r["tentativas"] == 0 for r in postponed)
    retry_s = settings.campanha_conversation_retry_s
    assert all(retry_s - 60 < r["em_s"] <= retry_s for r in postponed)
