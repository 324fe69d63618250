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
from julia.worker.resposta import AVISO_HANDOFF
from tests.service.conftest import CHAVE, Externos, drenar, erro_claude, postar, resposta_claude, upsert


async def test_um_webhook_uma_resposta_com_o_texto_do_claude(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=None, return_value=resposta_claude("Oi! Temos plantões na sua área."))
    await postar(cliente, upsert("Oi, tem plantão?"))
    await drenar(worker, pool)

    assert externos.textos_enviados() == [("5511999990000", "Oi! Temos plantões na sua área.")]
    assert externos.envio.calls.last.request.headers["apikey"] == CHAVE
    pedido = json.loads(externos.claude.calls.last.request.content)
    assert pedido["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Júlia" in pedido["system"][0]["text"]
    assert "cache_control" not in pedido["system"][1]
    assert pedido["messages"] == [{"role": "user", "content": "Oi, tem plantão?"}]
    fila = await pool.fetchrow("SELECT status, tentativas, whatsapp_message_id FROM fila_mensagens")
    assert fila is not None
    assert fila["status"] == "enviada"
    assert fila["whatsapp_message_id"].startswith("3EB0")
    saida = await pool.fetchval(
        "SELECT conteudo FROM interacoes WHERE direcao = 'saida' AND origem = 'julia'"
    )
    assert saida == "Oi! Temos plantões na sua área."
    assert await pool.fetchval("SELECT status FROM entradas") == "feita"


async def test_reentrega_nao_gera_segunda_resposta(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert())
    await drenar(worker, pool)
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.envio.call_count == 1
    assert externos.claude.call_count == 1


async def test_mensagens_proprias_grupo_e_status_sem_resposta(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert(from_me=True))
    await postar(cliente, upsert(jid="120363025246125888@g.us", msg_id="G1"))
    await postar(cliente, upsert(jid="status@broadcast", msg_id="S1"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 0
    assert externos.claude.call_count == 0


async def test_conversa_humana_sem_resposta_da_ia_so_espelho(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert("primeira", msg_id="A"))
    await drenar(worker, pool)
    await pool.execute("UPDATE conversations SET controlled_by = 'humano'")
    await postar(cliente, upsert("segunda", msg_id="B"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 1  # only the reply to "primeira"
    assert externos.claude.call_count == 1
    espelhadas = externos.espelhadas()
    assert {"content": "segunda", "message_type": "incoming", "private": False} in espelhadas


@pytest.mark.parametrize("status", ["opt_out", "bloqueado"])
async def test_medico_que_saiu_ou_foi_bloqueado_nao_recebe_resposta(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, status: str
) -> None:
    await pool.execute(
        "INSERT INTO clientes (telefone, primeiro_nome, status) VALUES ('+5511999990000', 'Ana', $1)", status
    )
    await postar(cliente, upsert("Tem plantão amanhã?"))
    await drenar(worker, pool)
    assert externos.claude.call_count == 0
    assert externos.envio.call_count == 0
    assert await pool.fetchval("SELECT status FROM entradas") == "feita"
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 1
    espelhadas = externos.espelhadas()
    assert {"content": "Tem plantão amanhã?", "message_type": "incoming", "private": False} in espelhadas


@pytest.fixture
def leituras(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The conversations the mirror reads from Postgres (ler_conversa still runs: only counted)."""
    lidas: list[int] = []
    ler_conversa = conversations.ler_conversa

    async def contar_leitura(db: asyncpg.Pool, conversa_id: int) -> conversations.ConversaWithMedico | None:
        lidas.append(conversa_id)
        return await ler_conversa(db, conversa_id)

    monkeypatch.setattr(conversations, "ler_conversa", contar_leitura)
    return lidas


async def test_espelho_no_chatwoot_cria_contato_e_conversa_uma_vez(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos, leituras: list[int]
) -> None:
    await postar(cliente, upsert("um", msg_id="A"))
    await drenar(worker, pool)
    await postar(cliente, upsert("dois", msg_id="B"))
    await drenar(worker, pool)
    assert externos.contato.call_count == 1
    assert externos.conversa.call_count == 1
    assert json.loads(externos.contato.calls.last.request.content) == {
        "inbox_id": 7,
        "name": "+5511999990000",
        "phone_number": "+5511999990000",
    }
    assert json.loads(externos.conversa.calls.last.request.content) == {
        "source_id": "src-501",
        "inbox_id": 7,
        "contact_id": 501,
    }
    tipos = [json.loads(c.request.content)["message_type"] for c in externos.mensagem.calls]
    assert sorted(tipos) == ["incoming", "incoming", "outgoing", "outgoing"]
    assert externos.mensagem.calls.last.request.headers["api_access_token"] == "tok"
    ids = await pool.fetchrow(
        "SELECT cl.chatwoot_contact_id, c.chatwoot_conversation_id FROM clientes cl JOIN conversations c"
        " ON c.cliente_id = cl.id"
    )
    assert ids is not None
    assert (ids[0], ids[1]) == (501, 901)
    assert len(leituras) == 1  # four mirrors, one read: the process remembers the Chatwoot id


async def test_espelho_usa_o_id_do_chatwoot_que_a_entrada_trouxe_sem_ler_a_conversa(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    worker: Worker,
    servicos: WorkerContext,
    externos: Externos,
    leituras: list[int],
) -> None:
    # A doctor answering a campaign: julia mirrored the campaign, so the conversation's Chatwoot id is
    # stored, and the inbound claim returns it with the message.
    await postar(cliente, upsert("um", msg_id="A"))
    await drenar(worker, pool)
    servicos.chatwoot_ids.clear()  # as a worker process that never saw this conversation
    leituras.clear()
    await postar(cliente, upsert("dois", msg_id="B"))
    await drenar(worker, pool)
    assert leituras == []  # both mirrors of the second message: the incoming's id came with the claim
    ultimas = [json.loads(c.request.content) for c in externos.mensagem.calls][-2:]
    assert sorted(m["message_type"] for m in ultimas) == ["incoming", "outgoing"]
    assert {str(c.request.url).rsplit("/conversations/", 1)[1] for c in externos.mensagem.calls} == {
        "901/messages"
    }


async def test_chatwoot_fora_nao_impede_a_resposta(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.contato.mock(return_value=httpx.Response(500, json={"error": "down"}))
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.envio.call_count == 1


async def test_claude_429_e_529_retentados_pelo_sdk(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(
        side_effect=[
            erro_claude(429, "rate_limit_error"),
            erro_claude(529, "overloaded_error"),
            resposta_claude("Enfim!"),
        ]
    )
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.claude.call_count == 3
    assert externos.textos_enviados() == [("5511999990000", "Enfim!")]


async def test_claude_timeout_retentado(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=[httpx.ReadTimeout("timed out"), resposta_claude("Depois do timeout")])
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.textos_enviados() == [("5511999990000", "Depois do timeout")]


async def test_claude_falhando_depois_das_retentativas_volta_a_fila(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """The SDK's 3 attempts fail, then the worker's next try succeeds: the reply still goes out."""
    externos.claude.mock(side_effect=[erro_claude(500, "api_error")] * 3 + [resposta_claude("Voltei")])
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.textos_enviados() == [("5511999990000", "Voltei")]
    assert await pool.fetchval("SELECT tentativas FROM entradas") == 2


async def test_claude_sempre_fora_termina_em_erro_com_o_motivo(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=lambda r: erro_claude(500, "api_error"))
    await postar(cliente, upsert())
    await drenar(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 3)
    assert "claude: HTTP 500" in linha["last_error"]
    assert externos.claude.call_count == 9  # 3 tries x (1 + 2 SDK retries)
    assert externos.envio.call_count == 0
    # The doctor's message is kept, not lost.
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE direcao = 'entrada'") == 1


async def test_limite_de_taxa_alem_das_retentativas_nao_gasta_tentativas(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """Five attempts end on a 429 or 529 the SDK's retries did not outlast (more than the three tries a
    message has): each is a wait, not a failure, and the sixth answers."""
    limitadas = [erro_claude(429, "rate_limit_error")] * 9 + [erro_claude(529, "overloaded_error")] * 6
    externos.claude.mock(side_effect=[*limitadas, resposta_claude("Agora sim")])
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.textos_enviados() == [("5511999990000", "Agora sim")]
    linha = await pool.fetchrow("SELECT status, tentativas, esperas FROM entradas")
    assert linha is not None
    assert tuple(linha) == ("feita", 6, 5)


async def test_limite_de_taxa_que_nunca_passa_termina_em_erro(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    worker: Worker,
    externos: Externos,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The waits are bounded: after ESPERAS_MAX of them a 429 counts as a try, and the row ends in 'erro'
    with the reason after the usual three."""
    politica = worker.entradas.policy
    monkeypatch.setattr(
        worker.entradas,
        "policy",
        dataclasses.replace(politica, waits=dataclasses.replace(politica.waits, max_tries=2)),
    )
    externos.claude.mock(side_effect=lambda r: erro_claude(429, "rate_limit_error"))
    await postar(cliente, upsert())
    await drenar(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, esperas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"], linha["esperas"]) == ("erro", 5, 2)
    assert "claude: HTTP 429" in linha["last_error"]
    assert externos.textos_enviados() == []
    assert externos.claude.call_count == 15  # 5 tries x (1 + 2 SDK retries)


async def test_claude_timeouts_sempre_terminam_em_erro(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.claude.mock(side_effect=httpx.ReadTimeout("timed out"))
    await postar(cliente, upsert())
    await drenar(worker, pool)
    linha = await pool.fetchrow("SELECT status, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["last_error"]) == ("erro", "claude: timeout")


async def test_numero_fora_do_whatsapp_nao_e_retentado(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.envio.mock(
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
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.envio.call_count == 1
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 1)
    assert '"exists":false' in linha["last_error"]
    # LGPD: the number Evolution named is masked in what julia keeps (julia/mascara.py).
    assert "5511999990000" not in linha["last_error"]
    assert '"jid":"55*******0000@s.whatsapp.net"' in linha["last_error"]


async def test_evolution_5xx_retentado_ate_enviar(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    ok = httpx.Response(
        201, json={"key": {"remoteJid": "5511999990000@s.whatsapp.net", "fromMe": True, "id": "3EB0X"}}
    )
    externos.envio.mock(
        side_effect=[httpx.Response(500, json={"status": 500}), httpx.ConnectError("refused"), ok]
    )
    await postar(cliente, upsert())
    await drenar(worker, pool)
    assert externos.envio.call_count == 3
    linha = await pool.fetchrow("SELECT status, tentativas FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("enviada", 3)


async def test_evolution_sempre_fora_termina_em_erro(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    externos.envio.mock(side_effect=None, return_value=httpx.Response(503, text="unavailable"))
    await postar(cliente, upsert())
    await drenar(worker, pool)
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM fila_mensagens")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", 5)
    assert linha["last_error"].startswith("evolution: HTTP 503")


async def test_envio_interrompido_fica_incerto_e_nao_e_reenviado(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    """A sender killed during the HTTP call leaves its row 'enviando': once its lease is over the sweep
    holds it as 'incerto' for a person, and no sender sends it again."""
    await postar(cliente, upsert())
    tarefas = await worker.claim_entradas(10)
    await worker._attempt(tarefas[0])
    await pool.execute(
        "UPDATE fila_mensagens SET status = 'enviando', tentativas = 1, envio_iniciado_em = now(),"
        " locked_until = now() - interval '1 second'"
    )
    await drenar(worker, pool)
    assert externos.envio.call_count == 0
    linha = await pool.fetchrow("SELECT status, last_error FROM fila_mensagens")
    assert linha is not None
    assert linha["status"] == "incerto"
    assert "may or may not have reached the doctor" in linha["last_error"]


async def test_medico_pede_humano(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    await postar(cliente, upsert("Quero falar com uma pessoa, por favor"))
    await drenar(worker, pool)
    assert externos.claude.call_count == 0
    assert externos.textos_enviados() == [("5511999990000", AVISO_HANDOFF)]
    assert await pool.fetchval("SELECT controlled_by FROM conversations") == "humano"
    assert await pool.fetchval("SELECT count(*) FROM handoffs WHERE status = 'pendente'") == 1
    assert externos.slack.call_count == 1
    assert json.loads(externos.rotulos.calls.last.request.content) == {"labels": ["plantao", "humano"]}
    await postar(cliente, upsert("Alô?", msg_id="B"))
    await drenar(worker, pool)
    assert externos.envio.call_count == 1
    assert externos.slack.call_count == 1
