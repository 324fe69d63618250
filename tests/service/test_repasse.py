"""An agent's reply in Chatwoot reaches the doctor on WhatsApp through julia, once (issue 36, point 5):
`message_created` in the real wire format (julia.testing.chatwoot), against real Postgres and Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx

from julia.services.repasse import NOTA_ANEXO, NOTA_DESCONHECIDA, NOTA_RECUSA
from julia.testing.chatwoot import AGENTE, eco, mensagem_criada
from julia.worker.loop import Worker
from tests.service.conftest import Externos, drenar, postar, upsert
from tests.service.test_handoff import CHATWOOT_ID, assinado

INBOX = 7  # the service tests' CHATWOOT_INBOX_ID
MEDICO = "5511999990000"
REPASSES = "SELECT count(*) FROM fila_mensagens WHERE chatwoot_message_id IS NOT NULL"
DA_5001 = "SELECT {} FROM fila_mensagens WHERE chatwoot_message_id = 5001"


def do_agente(texto: str, mensagem_id: int = 5001, **campos: Any) -> dict[str, Any]:
    return mensagem_criada(CHATWOOT_ID, texto, mensagem_id=mensagem_id, inbox_id=INBOX, **campos)


async def _conversa(cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker) -> None:
    """The doctor wrote, Júlia answered: both mirrored to Chatwoot conversation CHATWOOT_ID."""
    await postar(cliente, upsert("Oi"))
    await drenar(worker, pool)
    assert await pool.fetchval("SELECT chatwoot_conversation_id FROM conversations") == CHATWOOT_ID


def _postados(externos: Externos) -> list[dict[str, Any]]:
    """The bodies of the messages julia posted to Chatwoot (mirrors and private notes)."""
    return [json.loads(c.request.content) for c in externos.mensagem.calls]


async def _nothing_forwarded(
    worker: Worker, pool: asyncpg.Pool, externos: Externos, enviados: list[tuple[str, str]]
) -> None:
    """Once the worker has drained: WhatsApp got nothing past `enviados` and no agent's reply is queued."""
    await drenar(worker, pool)
    assert externos.textos_enviados() == enviados
    assert await pool.fetchval(REPASSES) == 0


async def test_resposta_do_agente_chega_ao_medico_uma_vez(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa(cliente, pool, worker)
    antes = externos.textos_enviados()
    espelhos_antes = len(externos.mensagem.calls)
    corpo = do_agente("Oi, aqui é a Marina da equipe. Posso ajudar?")
    primeira = await cliente.post("/webhooks/chatwoot", **assinado(corpo))
    assert primeira.status_code == 200
    assert primeira.json() == {"status": "enfileirada"}
    # Chatwoot delivers again (a retry, and two at once): nothing more is queued.
    repetidas = [await cliente.post("/webhooks/chatwoot", **assinado(corpo))]
    repetidas += await asyncio.gather(
        *(cliente.post("/webhooks/chatwoot", **assinado(corpo)) for _ in range(3))
    )
    assert [r.json()["status"] for r in repetidas] == ["repetida"] * 4
    await drenar(worker, pool)
    await drenar(worker, pool)  # a second pass finds nothing left to send
    assert externos.textos_enviados() == [*antes, (MEDICO, "Oi, aqui é a Marina da equipe. Posso ajudar?")]
    # In the doctor's history as the person's, with its WhatsApp id; not mirrored back to Chatwoot.
    historia = await pool.fetchrow(
        "SELECT origem, direcao, whatsapp_message_id FROM interacoes WHERE conteudo LIKE 'Oi, aqui é%'"
    )
    assert historia is not None
    assert (historia["origem"], historia["direcao"]) == ("humano", "saida")
    assert historia["whatsapp_message_id"] is not None
    assert len(externos.mensagem.calls) == espelhos_antes
    linha = await pool.fetchrow(DA_5001.format("status, prioridade"))
    assert linha is not None
    assert (linha["status"], linha["prioridade"]) == ("enviada", 8)  # a reply's rate class


async def test_mensagens_da_julia_nunca_sao_enviadas_de_novo(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Chatwoot echoes every message julia posts (the doctor's mirrored, Júlia's mirrored, private notes)
    as a `message_created` whose sender is the token's user, a person like any agent: julia's mark keeps
    each one from going to WhatsApp again."""
    await _conversa(cliente, pool, worker)
    await postar(cliente, upsert("Tem vaga sábado?", msg_id="3EB0SEGUNDA"))
    await drenar(worker, pool)
    enviados = externos.textos_enviados()
    postados = _postados(externos)
    assert {p["message_type"] for p in postados} == {"incoming", "outgoing"}
    assert all(p["source_id"].startswith("julia:") for p in postados)
    for i, postado in enumerate(postados):
        resposta = await cliente.post(
            "/webhooks/chatwoot", **assinado(eco(CHATWOOT_ID, postado, mensagem_id=9000 + i, inbox_id=INBOX))
        )
        assert resposta.json()["status"] == "ignorada"
    await _nothing_forwarded(worker, pool, externos, enviados)


async def test_nota_privada_e_outras_mensagens_nunca_sao_enviadas(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa(cliente, pool, worker)
    enviados = externos.textos_enviados()
    robo = {"id": 3, "name": "Captain", "type": "agent_bot"}
    nao_vao = [
        do_agente("Nota interna: ligar para o hospital", privada=True),
        do_agente("Nota sem o campo private", mensagem_id=5002) | {"private": None},
        do_agente("Mensagem de um robô", mensagem_id=5003, remetente=robo),
        do_agente("Mensagem de uma automação", mensagem_id=5004) | {"sender": None},
        do_agente("Mensagem do médico", mensagem_id=5005, tipo="incoming"),
        do_agente("Pesquisa de satisfação", mensagem_id=5006, tipo="template"),
        mensagem_criada(CHATWOOT_ID, "Outra caixa", mensagem_id=5007, inbox_id=99),
        do_agente("   ", mensagem_id=5008),
    ]
    for corpo in nao_vao:
        resposta = await cliente.post("/webhooks/chatwoot", **assinado(corpo))
        assert resposta.status_code == 200
        assert resposta.json()["status"] == "ignorada", corpo["content"]
    await _nothing_forwarded(worker, pool, externos, enviados)


async def test_medico_em_opt_out_nunca_recebe_e_o_agente_sabe_por_que(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await _conversa(cliente, pool, worker)
    await postar(cliente, upsert("PARAR", msg_id="3EB0PARAR"))
    await drenar(worker, pool)
    assert await pool.fetchval("SELECT status FROM clientes") == "opt_out"
    enviados = externos.textos_enviados()
    corpo = do_agente("Dra., temos uma vaga nova!")
    for esperado in ("recusada", "repetida"):  # the redelivery posts no second note
        resposta = await cliente.post("/webhooks/chatwoot", **assinado(corpo))
        assert resposta.json() == {"status": esperado}
    await drenar(worker, pool)
    assert externos.textos_enviados() == enviados
    notas = [p for p in _postados(externos) if p["private"]]
    assert [n["content"] for n in notas] == [NOTA_RECUSA]
    assert str(externos.mensagem.calls[-1].request.url).endswith(f"/conversations/{CHATWOOT_ID}/messages")
    linha = await pool.fetchrow(DA_5001.format("status, last_error"))
    assert linha is not None
    assert linha["status"] == "cancelada"
    assert "opt-out" in linha["last_error"]


async def test_opt_out_entre_a_fila_e_o_envio_cancela_e_avisa(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Opted out after the reply was queued (the status changed by hand, so no cancelling sweep ran):
    the send-time check stops it, and the agent gets the note from the sender."""
    await _conversa(cliente, pool, worker)
    enviados = externos.textos_enviados()
    resposta = await cliente.post("/webhooks/chatwoot", **assinado(do_agente("Ainda tem interesse?")))
    assert resposta.json() == {"status": "enfileirada"}
    await pool.execute("UPDATE clientes SET status = 'opt_out', opt_out_em = now()")
    await drenar(worker, pool)
    assert externos.textos_enviados() == enviados
    assert await pool.fetchval(DA_5001.format("status")) == "cancelada"
    assert [p["content"] for p in _postados(externos) if p["private"]] == [NOTA_RECUSA]
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE origem = 'humano'") == 0


async def test_anexo_nao_sai_e_o_agente_sabe(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Only text goes to WhatsApp: the text of a message with a photo goes, a photo alone does not, and
    the agent is told each time (once per message)."""
    await _conversa(cliente, pool, worker)
    enviados = externos.textos_enviados()
    so_foto = do_agente("", mensagem_id=5001, anexos=1)
    com_texto = do_agente("Segue a escala", mensagem_id=5002, anexos=2)
    assert (await cliente.post("/webhooks/chatwoot", **assinado(so_foto))).json() == {"status": "sem_texto"}
    for esperado in ("enfileirada", "repetida"):
        resposta = await cliente.post("/webhooks/chatwoot", **assinado(com_texto))
        assert resposta.json() == {"status": esperado}
    await drenar(worker, pool)
    assert externos.textos_enviados() == [*enviados, (MEDICO, "Segue a escala")]
    assert [p["content"] for p in _postados(externos) if p["private"]] == [NOTA_ANEXO, NOTA_ANEXO]


async def test_conversa_desconhecida_recebe_nota(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, externos: Externos
) -> None:
    corpo = mensagem_criada(4242, "Olá?", mensagem_id=5001, inbox_id=INBOX, remetente=AGENTE)
    resposta = await cliente.post("/webhooks/chatwoot", **assinado(corpo))
    assert resposta.json() == {"status": "desconhecida"}
    assert [(str(c.request.url), json.loads(c.request.content)) for c in externos.mensagem.calls] == [
        (
            "http://chatwoot.test/api/v1/accounts/1/conversations/4242/messages",
            {
                "content": NOTA_DESCONHECIDA,
                "message_type": "outgoing",
                "private": True,
                "source_id": json.loads(externos.mensagem.calls[0].request.content)["source_id"],
            },
        )
    ]
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens") == 0


async def test_mensagem_do_agente_exige_a_autenticacao_do_webhook(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    await _conversa(cliente, pool, worker)
    corpo = do_agente("Sem assinatura")
    assert (await cliente.post("/webhooks/chatwoot", json=corpo)).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo, segredo="outro"))).status_code == 401
    assert (await cliente.post("/webhooks/chatwoot", **assinado(corpo, atraso_s=3600))).status_code == 401
    assert await pool.fetchval(REPASSES) == 0


async def test_corpos_estranhos_nao_derrubam_o_webhook(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Ids Postgres cannot hold, or that are not ids, are ignored; a NUL in the text is dropped (Postgres
    refuses it in text), the message kept."""
    await _conversa(cliente, pool, worker)
    estranhos = [
        do_agente("id verdadeiro") | {"id": True},
        do_agente("id enorme") | {"id": 2**63},
        do_agente("id em texto") | {"id": "5001"},
        do_agente("sem conversa") | {"conversation": "812"},
        do_agente("conversa enorme") | {"conversation": {"id": 2**70}},
        do_agente("remetente estranho") | {"sender": ["user"]},
        do_agente("caixa estranha") | {"inbox": 7},
    ]
    for corpo in estranhos:
        resposta = await cliente.post("/webhooks/chatwoot", **assinado(corpo))
        assert (resposta.status_code, resposta.json()["status"]) == (200, "ignorada"), corpo["content"]
    nulo = await cliente.post("/webhooks/chatwoot", **assinado(do_agente("Olá\x00, doutora")))
    assert nulo.json() == {"status": "enfileirada"}
    await drenar(worker, pool)
    assert externos.textos_enviados()[-1] == (MEDICO, "Olá, doutora")
