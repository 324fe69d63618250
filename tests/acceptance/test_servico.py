"""`julia serve` + `julia worker` as real subprocesses, end to end: one Evolution webhook in, one
sendText out with Claude's text. Evolution and Anthropic are julia.testing's fakes served over HTTP
from this test process (respx cannot reach a subprocess); Postgres and Redis are the session's servers,
on a database of this test's own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from julia import db, servers
from julia.testing.app import criar_app
from julia.testing.estado import Estado
from julia.testing.evolution import mensagem_recebida
from tests.support.processes import JULIA, free_port, start_julia, stop, until_serving

CHAVE = "chave-aceitacao"


@pytest.fixture
def externos() -> Iterator[tuple[str, Estado]]:
    estado = Estado()
    porta = free_port()
    servidor = uvicorn.Server(uvicorn.Config(criar_app(estado), port=porta, log_level="warning"))
    fio = threading.Thread(target=servidor.run, daemon=True)
    fio.start()
    while not servidor.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{porta}", estado
    servidor.should_exit = True
    fio.join(timeout=5)


@pytest.fixture
async def banco(services: servers.Servers) -> str:
    # Unmigrated: `julia serve` migrates it, as it would a new production database.
    return await db.fresh_database(services.database_url, "julia_aceitacao", migrated=False)


def _ambiente(database_url: str, redis_url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLUTION_", "ANTHROPIC_", "CHATWOOT_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EVOLUTION_URL=base,
        EVOLUTION_API_KEY=CHAVE,
        EVOLUTION_WEBHOOK_SENDING_KEY="true",
        ANTHROPIC_API_KEY="test",
        ANTHROPIC_BASE_URL=base,
        JULIA_MODEL="claude-sonnet-4-6",
        PYTHONUNBUFFERED="1",
    )
    return env


def _parar(processo: subprocess.Popen[bytes], log: Path) -> str:
    stop(processo, 10)
    return log.read_text(errors="replace")


async def test_serve_e_worker_respondem_um_webhook_real(
    services: servers.Servers, banco: str, externos: tuple[str, Estado], tmp_path: Path
) -> None:
    base, estado = externos
    registro = estado.registro
    env = _ambiente(banco, services.redis_url, base)
    porta = free_port()
    serve = start_julia(["serve", "--port", str(porta)], env, tmp_path / "serve.log")
    worker = start_julia(["worker"], env, tmp_path / "worker.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{porta}", timeout=5) as cliente:
            await until_serving(cliente, serve, 20)
            corpo = mensagem_recebida(
                "Tenho interesse no plantão",
                numero="5511999990000",
                msg_id="3EB0ACEITE",
                server_url=base,
                destino=f"http://127.0.0.1:{porta}/webhooks/evolution",
            )
            resposta = await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": CHAVE})
            assert resposta.status_code == 200
            assert resposta.json()["status"] == "recebida"
            fim = time.monotonic() + 20
            while not registro.enviadas:
                assert worker.poll() is None, "julia worker exited"
                assert time.monotonic() < fim, "no sendText within 20 s"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a second (wrong) send would land here
    finally:
        saida_serve, saida_worker = (
            _parar(serve, tmp_path / "serve.log"),
            _parar(worker, tmp_path / "worker.log"),
        )
    enviadas = [(e.numero, e.texto) for e in registro.enviadas]
    assert enviadas == [("5511999990000", "(Júlia de teste) Recebi: Tenho interesse no plantão")], (
        saida_serve + saida_worker
    )
    assert registro.claude_ultimo is not None
    assert registro.claude_ultimo["system"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("comando", "falta"), [("worker", "ANTHROPIC_API_KEY"), ("serve", "EVOLUTION_API_KEY")]
)
def test_configuracao_ausente_uma_linha(comando: str, falta: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLUTION_", "ANTHROPIC_"))}
    feito = subprocess.run(
        [*JULIA, comando], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert feito.returncode == 1
    linhas = feito.stderr.strip().splitlines()
    assert len(linhas) == 1
    assert linhas[0].startswith("julia: missing required setting: ")
    assert falta in linhas[0]


@pytest.mark.parametrize("comando", ["serve", "worker"])
@pytest.mark.parametrize(
    ("servico", "config", "dito"),
    [
        ("evolution", {"chatwoot": True}, "Evolution instance 'julia' has its own Chatwoot integration on"),
        ("chatwoot", {"canal": "Channel::Whatsapp"}, "Chatwoot inbox 1 is a Channel::Whatsapp inbox"),
    ],
)
def test_outra_topologia_do_chatwoot_e_recusada_em_uma_linha(
    services: servers.Servers,
    banco: str,
    externos: tuple[str, Estado],
    comando: str,
    servico: str,
    config: dict[str, object],
    dito: str,
) -> None:
    """The fakes say what the deployment is (the instance's own Chatwoot integration on, or an inbox that
    delivers by itself): julia starts neither process, in one line, exit 1."""
    base, estado = externos
    estado.configurar(servico, config)
    env = _ambiente(banco, services.redis_url, base)
    env.update(CHATWOOT_URL=base, CHATWOOT_API_TOKEN="falso", CHATWOOT_ACCOUNT_ID="1", CHATWOOT_INBOX_ID="1")
    args = [comando, "--port", str(free_port())] if comando == "serve" else [comando]
    feito = subprocess.run([*JULIA, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert feito.returncode == 1, feito.stderr
    linhas = feito.stderr.strip().splitlines()
    assert len(linhas) == 1, feito.stderr
    assert linhas[0].startswith(f"julia: {dito}")
    assert linhas[0].endswith("(docs/deploy.md#chatwoot)")


async def _ate(condicao: Callable[[], bool], o_que: str, worker: subprocess.Popen[bytes]) -> None:
    fim = time.monotonic() + 20
    while not condicao():
        assert worker.poll() is None, "julia worker exited"
        assert time.monotonic() < fim, f"{o_que} within 20 s"
        await asyncio.sleep(0.1)


async def test_agente_responde_pelo_chatwoot_e_nada_sai_duas_vezes(
    services: servers.Servers, banco: str, externos: tuple[str, Estado], tmp_path: Path
) -> None:
    """The whole loop with real processes: the fake Chatwoot posts `message_created` for every message
    julia mirrors (each delivered twice, signed), then for an agent's reply and a private note. WhatsApp
    gets Júlia's reply once and the agent's reply once; nothing else."""
    base, estado = externos
    registro = estado.registro
    porta = free_port()
    estado.configurar(
        "chatwoot",
        {"webhook": f"http://127.0.0.1:{porta}/webhooks/chatwoot", "segredo": "segredo-cw", "entregas": 2},
    )
    env = _ambiente(banco, services.redis_url, base)
    env.update(
        CHATWOOT_URL=base,
        CHATWOOT_API_TOKEN="falso",
        CHATWOOT_ACCOUNT_ID="1",
        CHATWOOT_INBOX_ID="1",
        CHATWOOT_WEBHOOK_SECRET="segredo-cw",
    )
    serve = start_julia(["serve", "--port", str(porta)], env, tmp_path / "serve.log")
    worker = start_julia(["worker"], env, tmp_path / "worker.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{porta}", timeout=5) as cliente:
            await until_serving(cliente, serve, 20)
            corpo = mensagem_recebida("Oi", numero="5511999990000", msg_id="3EB0AGENTE", server_url=base)
            assert (
                await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": CHAVE})
            ).is_success
            await _ate(lambda: len(registro.chatwoot_webhooks) >= 4, "both mirrors echoed twice", worker)
            mensagens = [c["caminho"] for c in registro.chatwoot if c["caminho"].endswith("/messages")]
            conversa = int(mensagens[0].split("/")[-2])
        async with httpx.AsyncClient(base_url=base, timeout=10) as falso:
            for texto, privada in (("Aqui é a Marina, da equipe.", False), ("Nota: ligar amanhã", True)):
                escrita = await falso.post(
                    "/_controle/chatwoot/agente",
                    json={"conversa": conversa, "texto": texto, "privada": privada},
                )
                assert escrita.json()["respostas"] == [200, 200]
        await _ate(lambda: len(registro.enviadas) >= 2, "the agent's reply sent", worker)
        await asyncio.sleep(1.0)  # a second (wrong) send would land here
    finally:
        saida = _parar(serve, tmp_path / "serve.log") + _parar(worker, tmp_path / "worker.log")
    assert [(e.numero, e.texto) for e in registro.enviadas] == [
        ("5511999990000", "(Júlia de teste) Recebi: Oi"),
        ("5511999990000", "Aqui é a Marina, da equipe."),
    ], saida
    assert all(status == 200 for status in registro.chatwoot_webhooks), saida
