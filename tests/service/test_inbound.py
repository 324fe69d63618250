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
from julia.services.opt_out import CONFIRMACAO, CONFIRMACAO_COM_EQUIPE
from julia.settings import Settings
from julia.testing import claude
from julia.worker.loop import Worker
from julia.worker.resposta import AVISO_ALTERACAO, AVISO_HANDOFF, DESCULPA_ATRASO, PEDIR_TEXTO
from tests.service.conftest import (
    METRICAS,
    USO_CACHE,
    Externos,
    drenar,
    eco_claude,
    erro_claude,
    postar,
    resposta_claude,
    upsert,
)
from tests.service.test_campanhas import _campanha_ja_devida

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "evolution"
TELEFONE = "+5511999990000"
NUMERO = "5511999990000"


def corpo(nome: str, *, agora: bool = True, msg_id: str | None = None) -> dict[str, Any]:
    """An Evolution body from the fixtures; `agora`: sent now (the fixtures carry their real, 2024 time)."""
    lido: dict[str, Any] = json.loads((FIXTURES / f"{nome}.json").read_text(encoding="utf-8"))
    dados = lido["data"]
    if agora and "messageTimestamp" in dados:
        dados["messageTimestamp"] = int(time.time())
    if msg_id is not None:
        dados["key"]["id"] = msg_id
    return lido


def pedido_claude(externos: Externos, n: int = -1) -> dict[str, Any]:
    corpo_pedido: dict[str, Any] = json.loads(externos.claude.calls[n].request.content)
    return corpo_pedido


def ultima_fala(externos: Externos) -> str:
    conteudo: str = pedido_claude(externos)["messages"][-1]["content"]
    return conteudo


def parada(texto: str, motivo: str) -> httpx.Response:
    """Claude's answer ending with `stop_reason` `motivo`."""
    blocos = [claude.texto(texto)] if texto else []
    corpo_resposta = claude.mensagem(
        "claude-sonnet-4-6", blocos, motivo, "msg_09", {"input_tokens": 9, "output_tokens": 512, **USO_CACHE}
    )
    return httpx.Response(200, headers={"request-id": "req_9"}, json=corpo_resposta)


async def entradas(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    linhas = await pool.fetch(
        "SELECT i.conteudo, e.tratamento, e.status FROM entradas e JOIN interacoes i ON i.id = e.interacao_id"
        " ORDER BY e.id"
    )
    return [(r["conteudo"], r["tratamento"], r["status"]) for r in linhas]


async def conversa_com_julia(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, oferta: str
) -> None:
    """A first exchange whose reply, Júlia's offer, carries the WhatsApp id the fixtures point at."""
    externos.claude.mock(side_effect=[resposta_claude(oferta)])
    await postar(cliente, upsert("Oi", msg_id="3EB0ORIGINAL0001"))
    await drenar(worker, pool)
    await pool.execute(
        "UPDATE interacoes SET whatsapp_message_id = '3EB0JULIA0001'"
        " WHERE direcao = 'saida' AND conteudo = $1",
        oferta,
    )
    externos.claude.reset()
    externos.claude.mock(side_effect=eco_claude)


# --- media, captions, voice -----------------------------------------------------------------------


async def test_voice_note_is_stored_mirrored_and_answered_with_text_request_without_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    resposta = await postar(cliente, corpo("audio_voz"))
    assert (resposta.status_code, resposta.json()["status"]) == (200, "recebida")
    await drenar(worker, pool)
    assert await entradas(pool) == [("[mensagem de voz]", "pedir_texto", "feita")]
    assert externos.claude.call_count == 0
    assert externos.textos_enviados() == [(NUMERO, PEDIR_TEXTO)]
    mirrored = [json.loads(c.request.content)["content"] for c in externos.mensagem.calls]
    assert "[mensagem de voz]" in mirrored


async def test_a_burst_of_voice_notes_gets_one_ask_for_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    for i in range(3):
        await postar(cliente, corpo("audio_voz", msg_id=f"AUDIO{i}"))
    await drenar(worker, pool)
    assert [e[1:] for e in await entradas(pool)] == [("pedir_texto", "feita")] * 3
    assert externos.textos_enviados() == [(NUMERO, PEDIR_TEXTO)]


async def test_image_caption_reaches_claude_as_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, corpo("imagem_legenda"))
    await drenar(worker, pool)
    texto = "[imagem com a legenda:] Meu CRM, pode reservar o de sábado"
    assert await entradas(pool) == [(texto, "responder", "feita")]
    assert ultima_fala(externos) == texto
    assert externos.textos_enviados() == [(NUMERO, f"Resposta a: {texto}")]


async def test_image_without_caption_gets_the_text_request(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    sem_legenda = corpo("imagem_legenda")
    del sem_legenda["data"]["message"]["imageMessage"]["caption"]
    await postar(cliente, sem_legenda)
    await drenar(worker, pool)
    assert await entradas(pool) == [("[imagem]", "pedir_texto", "feita")]
    assert externos.claude.call_count == 0
    assert externos.textos_enviados() == [(NUMERO, PEDIR_TEXTO)]


async def test_reaction_reaches_claude_as_a_reaction_to_julias_message(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    oferta = "Tenho plantão sábado 7h-19h no São Lucas, R$ 1.800. Tem interesse?"
    await conversa_com_julia(cliente, pool, worker, externos, oferta)
    await postar(cliente, corpo("reacao"))
    await drenar(worker, pool)
    assert ultima_fala(externos) == f'[reagiu com 👍 à mensagem: "{oferta}"]'
    # Taken back (text ""): nothing to store.
    retirada = corpo("reacao", msg_id="3EB0REACAO0002")
    retirada["data"]["message"]["reactionMessage"]["text"] = ""
    assert (await postar(cliente, retirada)).json()["status"] == "ignorada"


async def test_quoted_reply_passes_the_quoted_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, corpo("resposta_citada"))
    await drenar(worker, pool)
    assert ultima_fala(externos) == (
        '[em resposta a: "Plantão sábado 7h-19h no Hospital São Lucas, R$ 1.800. Tem interesse?"] '
        "Sim, quero esse"
    )


async def test_button_and_list_replies_are_their_selected_text(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    botao = corpo("texto_antigo", msg_id="B1")
    botao["data"]["message"] = {
        "buttonsResponseMessage": {"selectedButtonId": "sim", "selectedDisplayText": "Sim"}
    }
    lista = corpo("texto_antigo", msg_id="L1")
    lista["data"]["message"] = {
        "listResponseMessage": {"title": "Sábado", "singleSelectReply": {"selectedRowId": "v42"}}
    }
    await postar(cliente, botao)
    await postar(cliente, lista)
    await drenar(worker, pool)
    assert [e[0] for e in await entradas(pool)] == ["Sim", "Sábado"]
    assert externos.claude.call_count == 2


# --- a sender with no phone, old messages -----------------------------------------------------------


async def test_lid_without_alt_is_kept_not_refused(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    primeira = await postar(cliente, corpo("lid_sem_alt"))
    assert (primeira.status_code, primeira.json()) == (200, {"status": "sem_telefone"})
    assert (await postar(cliente, corpo("lid_sem_alt"))).json() == {"status": "duplicada"}
    linha = await pool.fetchrow("SELECT jid, whatsapp_message_id, conteudo, nome FROM mensagens_sem_telefone")
    assert linha is not None
    assert dict(linha) == {
        "jid": "107283991239804@lid",
        "whatsapp_message_id": "3EB0LID0001",
        "conteudo": "Bom dia, tem plantão amanhã?",
        "nome": "Dra. Ana",
    }
    metricas = (await cliente.get("/metrics", headers=METRICAS)).text
    assert (
        'julia_webhook_evolution_eventos_total{evento="messages.upsert",resultado="sem_telefone"} 1.0'
        in metricas
    )


async def test_old_messages_get_one_apology_per_conversation_and_no_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    for i in range(3):
        await postar(cliente, corpo("texto_antigo", agora=False, msg_id=f"ANTIGA{i}"))
    await postar(cliente, corpo("audio_voz", agora=False, msg_id="ANTIGA3"))
    await drenar(worker, pool)
    assert [e[1:] for e in await entradas(pool)] == [("desculpar", "feita")] * 4
    assert externos.claude.call_count == 0
    assert externos.textos_enviados() == [(NUMERO, DESCULPA_ATRASO)]
    assert len(externos.mensagem.calls) >= 4  # each one mirrored
    # A fresh message after the backlog is answered as usual, the old ones in its history.
    await postar(cliente, upsert("E aí, tem plantão?", msg_id="NOVA"))
    await drenar(worker, pool)
    assert externos.claude.call_count == 1
    assert "ainda tem o plantão de sexta" in json.dumps(
        pedido_claude(externos)["messages"], ensure_ascii=False
    )


# --- edits and deletes ------------------------------------------------------------------------------


async def test_edit_is_answered_with_the_original_quoted(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await conversa_com_julia(cliente, pool, worker, externos, "Temos plantão sábado. Quer?")
    resposta = await postar(cliente, corpo("edicao"))
    assert resposta.json()["status"] == "recebida"
    await drenar(worker, pool)
    assert ultima_fala(externos).endswith('[editou a mensagem "Oi" para:] Na verdade, prefiro o de domingo')
    assert (await postar(cliente, corpo("edicao"))).json()["status"] == "duplicada"


async def test_delete_of_a_message_that_reserved_a_shift_goes_to_a_person(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await conversa_com_julia(cliente, pool, worker, externos, "Reservado o de sábado.")
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
    envios_antes = len(externos.textos_enviados())
    await postar(cliente, corpo("remocao"))
    await drenar(worker, pool)
    assert (await entradas(pool))[-1] == ('[apagou a mensagem: "Oi"]', "passar", "feita")
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert externos.textos_enviados()[envios_antes:] == [(NUMERO, AVISO_ALTERACAO)]
    assert externos.claude.call_count == 0


async def test_delete_of_an_ordinary_message_is_stored_and_mirrored_only(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await conversa_com_julia(cliente, pool, worker, externos, "Temos plantão sábado. Quer?")
    envios_antes = len(externos.textos_enviados())
    await postar(cliente, corpo("remocao"))
    await drenar(worker, pool)
    assert (await entradas(pool))[-1] == ('[apagou a mensagem: "Oi"]', "registrar", "feita")
    assert len(externos.textos_enviados()) == envios_antes
    desconhecida = corpo("remocao")
    desconhecida["data"]["id"] = "3EB0NUNCAVISTA"
    assert (await postar(cliente, desconhecida)).json()["status"] == "desconhecida"


# --- opt-out always wins ------------------------------------------------------------------------------


async def test_parar_under_a_handoff_opts_out_at_the_webhook_and_cancels_queued_replies(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert("Oi", msg_id="M1"))
    await drenar(worker, pool)
    conversa = await pool.fetchval("UPDATE conversations SET controlled_by = 'humano' RETURNING id")
    medico = await pool.fetchval("SELECT id FROM clientes")
    # A reply queued and not yet sent (a person's, or Júlia's from before the handoff).
    await pool.execute(
        "INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade)"
        " VALUES ($1, $2, 'ainda?', 8)",
        medico,
        conversa,
    )
    envios_antes = len(externos.textos_enviados())
    resposta = await postar(cliente, upsert("PARAR", msg_id="M2"))
    assert resposta.json()["status"] == "opt_out"
    # Registered by the webhook itself, before any worker ran.
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    filas = await pool.fetch(
        "SELECT conteudo, status FROM fila_mensagens WHERE status <> 'enviada' ORDER BY id"
    )
    assert [tuple(f) for f in filas] == [("ainda?", "cancelada"), (CONFIRMACAO_COM_EQUIPE, "pendente")]
    await drenar(worker, pool)
    assert externos.textos_enviados()[envios_antes:] == [(NUMERO, CONFIRMACAO_COM_EQUIPE)]
    assert (await entradas(pool))[-1] == ("PARAR", "registrar", "feita")


async def test_opt_out_confirmation_promises_no_person_without_chatwoot(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, http: httpx2.AsyncClient
) -> None:
    sem_chatwoot = settings.model_copy(update={"chatwoot_url": None})
    app = create_app(sem_chatwoot, pool=pool, redis=redis, http=http)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://julia") as c:
        assert (await postar(c, upsert("Sair"))).json()["status"] == "opt_out"
    assert await pool.fetchval("SELECT conteudo FROM fila_mensagens") == CONFIRMACAO


async def test_a_reply_written_while_the_doctor_opted_out_is_not_queued(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """PARAR lands while Claude writes the answer to the doctor's previous message: the opt-out wins."""
    await postar(cliente, upsert("Tem plantão sábado?", msg_id="M1"))
    [tarefa] = await worker.claim_entradas(5)
    await postar(cliente, upsert("PARAR", msg_id="M2"))
    await worker._attempt(tarefa)
    await drenar(worker, pool)
    assert externos.textos_enviados() == [(NUMERO, CONFIRMACAO_COM_EQUIPE)]


async def test_backstop_registers_an_opt_out_claude_confirmed_without_the_tool(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=[resposta_claude("Tudo bem! Você não vai mais receber nossas ofertas.")])
    await postar(cliente, upsert("me esquece, chega de mensagem"))
    await drenar(worker, pool)
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    assert externos.textos_enviados() == [(NUMERO, CONFIRMACAO_COM_EQUIPE)]


async def test_the_prompt_names_the_opt_out_tool(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert("Oi"))
    await drenar(worker, pool)
    pedido = pedido_claude(externos)
    assert "registrar_opt_out" in pedido["system"][0]["text"]
    assert await pool.fetchval("SELECT versao_prompt FROM interacoes WHERE direcao = 'saida'") == "v3"


# --- Claude's stop_reason -----------------------------------------------------------------------------


async def test_max_tokens_cut_is_sent_up_to_its_last_full_sentence(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(
        side_effect=[parada("Temos plantão sábado no São Lucas. O valor é R$ 1.8", "max_tokens")]
    )
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.textos_enviados() == [(NUMERO, "Temos plantão sábado no São Lucas.")]


async def test_refusal_is_not_retried_and_a_person_answers(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=[parada("", "refusal")] * 5)
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.claude.call_count == 1
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert "refusal" in await pool.fetchval("SELECT motivo FROM handoffs")
    assert externos.textos_enviados() == [(NUMERO, AVISO_HANDOFF)]


async def test_prompt_too_long_400_is_not_retried_as_transient(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=[erro_claude(400, "invalid_request_error")] * 5)
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.claude.call_count == 1
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert externos.textos_enviados() == [(NUMERO, AVISO_HANDOFF)]


async def test_a_huge_message_is_cut_before_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externos: Externos
) -> None:
    enorme = "plantão " * 8_000  # 64,000 characters
    await postar(cliente, upsert(enorme))
    await drenar(worker, pool)
    guardado = await pool.fetchval("SELECT conteudo FROM interacoes WHERE direcao = 'entrada'")
    assert len(guardado) == settings.inbound_max_chars  # INBOUND_MAX_CHARS: stored and sent alike
    assert guardado.endswith("…")
    enviado = pedido_claude(externos)["messages"][-1]["content"]
    assert enviado.endswith(guardado)


async def test_campaigns_skip_doctors_in_a_handoff_or_an_active_conversation(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, worker: Worker, externos: Externos
) -> None:
    for numero in ("5511900000001", "5511900000002"):
        await postar(cliente, upsert("Oi", numero=numero, msg_id=f"A{numero}"))
    await drenar(worker, pool)
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
    envios_antes = len(externos.textos_enviados())
    o_dia_todo = settings.model_copy(update={"campanha_hora_inicio": 0, "campanha_hora_fim": 24})
    await _campanha_ja_devida(pool, o_dia_todo)
    await drenar(worker, pool, so_devidas=True)
    assert [n for n, _ in externos.textos_enviados()[envios_antes:]] == ["5511900000003"]
    # Put off, not cancelled (issue 36): tried again CAMPANHA_CONVERSATION_RETRY_S later, the claim not
    # counted against the row's tries.
    adiadas = await pool.fetch(
        "SELECT cl.telefone, f.last_error, f.tentativas,"
        " extract(epoch FROM f.agendar_para - now())::float8 AS em_s"
        " FROM fila_mensagens f JOIN clientes cl ON cl.id = f.cliente_id"
        " WHERE f.campanha_id IS NOT NULL AND f.status = 'pendente' ORDER BY cl.telefone"
    )
    assert [r["telefone"] for r in adiadas] == ["+5511900000001", "+5511900000002"]
    assert all(r["last_error"].startswith("médico em conversa") for r in adiadas)
    assert all(r["tentativas"] == 0 for r in adiadas)
    retry_s = settings.campanha_conversation_retry_s
    assert all(retry_s - 60 < r["em_s"] <= retry_s for r in adiadas)
