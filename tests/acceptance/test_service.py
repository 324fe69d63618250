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
from julia.testing.app import make_app
from julia.testing.evolution import message_received
from julia.testing.state import State
from tests.support.processes import JULIA, free_port, start_julia, stop, until_serving

KEY = "chave-aceitacao"


@pytest.fixture
def externals() -> Iterator[tuple[str, State]]:
    estado = State()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(estado), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", estado
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
async def database(services: servers.Servers) -> str:
    # Unmigrated: `julia serve` migrates it, as it would a new production database.
    return await db.fresh_database(services.database_url, "julia_aceitacao", migrated=False)


def _environment(database_url: str, redis_url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLUTION_", "ANTHROPIC_", "CHATWOOT_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EVOLUTION_URL=base,
        EVOLUTION_API_KEY=KEY,
        EVOLUTION_WEBHOOK_SENDING_KEY="true",
        ANTHROPIC_API_KEY="test",
        ANTHROPIC_BASE_URL=base,
        JULIA_MODEL="claude-sonnet-4-6",
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(processo: subprocess.Popen[bytes], log: Path) -> str:
    stop(processo, 10)
    return log.read_text(errors="replace")


async def test_serve_and_worker_answer_a_real_webhook(
    services: servers.Servers, database: str, externals: tuple[str, State], tmp_path: Path
) -> None:
    base, estado = externals
    registro = estado.registro
    env = _environment(database, services.redis_url, base)
    port = free_port()
    serve = start_julia(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    worker = start_julia(["worker"], env, tmp_path / "worker.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as cliente:
            await until_serving(cliente, serve, 20)
            corpo = message_received(
                "Tenho interesse no plantão",
                numero="5511999990000",
                msg_id="3EB0ACEITE",
                server_url=base,
                destination=f"http://127.0.0.1:{port}/webhooks/evolution",
            )
            resposta = await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": KEY})
            assert resposta.status_code == 200
            assert resposta.json()["status"] == "recebida"
            end = time.monotonic() + 20
            while not registro.enviadas:
                assert worker.poll() is None, "julia worker exited"
                assert time.monotonic() < end, "no sendText within 20 s"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a second (wrong) send would land here
    finally:
        serve_output, worker_output = (
            _stop(serve, tmp_path / "serve.log"),
            _stop(worker, tmp_path / "worker.log"),
        )
    enviadas = [(e.numero, e.texto) for e in registro.enviadas]
    assert enviadas == [("5511999990000", "(Júlia de teste) Recebi: Tenho interesse no plantão")], (
        serve_output + worker_output
    )
    assert registro.claude_ultimo is not None
    assert registro.claude_ultimo["system"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("command", "missing"), [("worker", "ANTHROPIC_API_KEY"), ("serve", "EVOLUTION_API_KEY")]
)
def test_missing_setting_one_line(command: str, missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLUTION_", "ANTHROPIC_"))}
    done = subprocess.run([*JULIA, command], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    linhas = done.stderr.strip().splitlines()
    assert len(linhas) == 1
    assert linhas[0].startswith("julia: missing required setting: ")
    assert missing in linhas[0]


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("servico", "config", "said"),
    [
        ("evolution", {"chatwoot": True}, "Evolution instance 'julia' has its own Chatwoot integration on"),
        ("chatwoot", {"canal": "Channel::Whatsapp"}, "Chatwoot inbox 1 is a Channel::Whatsapp inbox"),
    ],
)
def test_another_chatwoot_topology_is_refused_in_one_line(
    services: servers.Servers,
    database: str,
    externals: tuple[str, State],
    command: str,
    servico: str,
    config: dict[str, object],
    said: str,
) -> None:
    """The fakes say what the deployment is (the instance's own Chatwoot integration on, or an inbox that
    delivers by itself): julia starts neither process, in one line, exit 1."""
    base, estado = externals
    estado.configure(servico, config)
    env = _environment(database, services.redis_url, base)
    env.update(CHATWOOT_URL=base, CHATWOOT_API_TOKEN="falso", CHATWOOT_ACCOUNT_ID="1", CHATWOOT_INBOX_ID="1")
    args = [command, "--port", str(free_port())] if command == "serve" else [command]
    done = subprocess.run([*JULIA, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    linhas = done.stderr.strip().splitlines()
    assert len(linhas) == 1, done.stderr
    assert linhas[0].startswith(f"julia: {said}")
    assert linhas[0].endswith("(docs/deploy.md#chatwoot)")


async def _ate(condition: Callable[[], bool], what: str, worker: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 20
    while not condition():
        assert worker.poll() is None, "julia worker exited"
        assert time.monotonic() < end, f"{what} within 20 s"
        await asyncio.sleep(0.1)


async def test_agent_replies_through_chatwoot_and_nothing_goes_twice(
    services: servers.Servers, database: str, externals: tuple[str, State], tmp_path: Path
) -> None:
    """The whole loop with real processes: the fake Chatwoot posts `message_created` for every message
    julia mirrors (each delivered twice, signed), then for an agent's reply and a private note. WhatsApp
    gets Júlia's reply once and the agent's reply once; nothing else."""
    base, estado = externals
    registro = estado.registro
    port = free_port()
    estado.configure(
        "chatwoot",
        {"webhook": f"http://127.0.0.1:{port}/webhooks/chatwoot", "segredo": "segredo-cw", "entregas": 2},
    )
    env = _environment(database, services.redis_url, base)
    env.update(
        CHATWOOT_URL=base,
        CHATWOOT_API_TOKEN="falso",
        CHATWOOT_ACCOUNT_ID="1",
        CHATWOOT_INBOX_ID="1",
        CHATWOOT_WEBHOOK_SECRET="segredo-cw",
    )
    serve = start_julia(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    worker = start_julia(["worker"], env, tmp_path / "worker.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as cliente:
            await until_serving(cliente, serve, 20)
            corpo = message_received("Oi", numero="5511999990000", msg_id="3EB0AGENTE", server_url=base)
            assert (await cliente.post("/webhooks/evolution", json=corpo, headers={"apikey": KEY})).is_success
            await _ate(lambda: len(registro.chatwoot_webhooks) >= 4, "both mirrors echoed twice", worker)
            messages = [c["caminho"] for c in registro.chatwoot if c["caminho"].endswith("/messages")]
            conversa = int(messages[0].split("/")[-2])
        async with httpx.AsyncClient(base_url=base, timeout=10) as fake:
            for texto, privada in (("Aqui é a Marina, da equipe.", False), ("Nota: ligar amanhã", True)):
                write = await fake.post(
                    "/_controle/chatwoot/agente",
                    json={"conversa": conversa, "texto": texto, "privada": privada},
                )
                assert write.json()["respostas"] == [200, 200]
        await _ate(lambda: len(registro.enviadas) >= 2, "the agent's reply sent", worker)
        await asyncio.sleep(1.0)  # a second (wrong) send would land here
    finally:
        output = _stop(serve, tmp_path / "serve.log") + _stop(worker, tmp_path / "worker.log")
    assert [(e.numero, e.texto) for e in registro.enviadas] == [
        ("5511999990000", "(Júlia de teste) Recebi: Oi"),
        ("5511999990000", "Aqui é a Marina, da equipe."),
    ], output
    assert all(status == 200 for status in registro.chatwoot_webhooks), output
