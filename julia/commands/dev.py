"""`julia dev`: everything on one machine for a newcomer. Throwaway (Docker or embedded) Postgres and Redis,
1,000 seeded doctors, the webhook API and the worker in one process; Evolution and Anthropic are local
fakes (julia.testing, served in this process) unless EVOLUTION_URL / ANTHROPIC_API_KEY are set. It says
what it filled in."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from pydantic import SecretStr

from julia import db, runtime
from julia.data import clientes, fila_mensagens
from julia.integrations.http import cliente_http
from julia.seed import check_doctors, seed
from julia.settings import Settings

DEV_KEY = "dev"


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `julia dev`, which stops API, fakes and worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "dev", help="API + worker + seeded doctors + fake Evolution/Claude, in one process (Ctrl-C stops)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="API port (default 8000; the fakes use port+1)"
    )
    parser.add_argument(
        "--doctors",
        type=int,
        default=1000,
        help="doctors to seed into an empty database (default 1000; 1 to 10,000,000)",
    )
    parser.set_defaults(run=run)


def complete(settings: Settings, fakes_port: int) -> tuple[Settings, list[str]]:
    """Harmless local defaults for what a newcomer lacks, and one line saying each."""
    changes: dict[str, Any] = {}
    avisos: list[str] = []
    base = f"http://127.0.0.1:{fakes_port}"
    if settings.evolution_api_key is None:
        changes["evolution_api_key"] = SecretStr(DEV_KEY)
        avisos.append(f"EVOLUTION_API_KEY unset: webhooks must carry the header `apikey: {DEV_KEY}`")
    if settings.evolution_webhook_secret is None and not settings.evolution_webhook_sending_key:
        # On one's own machine the sending key may prove a webhook (the curl printed below uses it).
        changes["evolution_webhook_sending_key"] = True
        avisos.append("EVOLUTION_WEBHOOK_SECRET unset: webhooks are authenticated by the `apikey` header")
    if settings.evolution_url is None:
        changes["evolution_url"] = base
        avisos.append(f"EVOLUTION_URL unset: replies go to a fake Evolution at {base} (printed here)")
    if settings.anthropic_api_key is None:
        changes.update(anthropic_api_key=SecretStr(DEV_KEY), anthropic_base_url=base)
        avisos.append(f"ANTHROPIC_API_KEY unset: a fake Claude at {base} echoes the doctor's message")
    if settings.admin_token is None:
        changes["admin_token"] = SecretStr(DEV_KEY)
        avisos.append(f"ADMIN_TOKEN unset: /admin routes take the header `Authorization: Bearer {DEV_KEY}`")
    if settings.metrics_token is None:
        changes["metrics_token"] = SecretStr(DEV_KEY)
        avisos.append(f"METRICS_TOKEN unset: /metrics takes the header `Authorization: Bearer {DEV_KEY}`")
    return settings.model_copy(update=changes), avisos


def run(args: argparse.Namespace) -> int:
    check_doctors(args.doctors)  # before starting any server, in `julia seed`'s words
    dado = Settings()
    use_fakes = dado.evolution_url is None or dado.anthropic_api_key is None
    settings, avisos = complete(dado, args.port + 1)
    for aviso in avisos:
        print(f"julia dev: {aviso}", flush=True)
    with runtime.find_servers(settings, throwaway=True) as found:
        print(f"julia dev: {found.describe()}", flush=True)
        settings = settings.model_copy(
            update={"database_url": found.database_url, "redis_url": found.redis_url}
        )
        asyncio.run(_run(settings, args, use_fakes=use_fakes))
    return 0


async def _run(settings: Settings, args: argparse.Namespace, *, use_fakes: bool) -> None:
    # Imported here, not at the top: the app and worker pull in the Anthropic SDK (about a second), which
    # every other `julia` command, and `julia --help`, has no use for.
    from julia.api.app import create_app
    from julia.cache.listener import Listener
    from julia.testing.app import make_app
    from julia.testing.state import State
    from julia.worker.context import WorkerContext
    from julia.worker.loop import Worker

    assert settings.database_url is not None
    assert settings.redis_url is not None
    async with (
        runtime.migrated_pool(settings, settings.database_url) as pool,
        cliente_http() as http,
    ):
        telefone = await _seed(settings.database_url, args.doctors)
        redis = aioredis.Redis.from_url(settings.redis_url)
        api = create_app(settings, pool=pool, redis=redis, http=http)
        servers = [_Server(uvicorn.Config(api, host=args.host, port=args.port, log_level="warning"))]
        if use_fakes:
            estado = State()
            # The newcomer reads Júlia's replies here; and the fake posts Evolution's receipts of each (half
            # of them read) back to this julia, so a campaign's report fills in as a real one does.
            estado.configure(
                "evolution", {"imprimir": True, "fracao_lida": 0.5, **_webhooks_for(settings, args.port)}
            )
            fakes_app = make_app(estado)
            servers.append(
                _Server(uvicorn.Config(fakes_app, host="127.0.0.1", port=args.port + 1, log_level="warning"))
            )
        context = WorkerContext.build(settings, pool, redis, http)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def stop_servers() -> None:
            await stop.wait()
            for server in servers:
                server.should_exit = True

        async def instruct_when_ready() -> None:
            # The curl is the last thing printed, once the API answers: sent at once, it is answered at once.
            while not all(s.started for s in servers):
                if stop.is_set():
                    return
                await asyncio.sleep(0.05)
            _instructions(args, settings, telefone)

        try:
            # One process, one change feed: the API's and the worker's caches share Redis.
            listener = Listener(settings.database_url, context.cache)
            worker = Worker(
                context, listening=listener.listening
            )  # the queues listen on the feed's connection
            async with listener.running():
                await asyncio.gather(
                    *(s.serve() for s in servers),
                    worker.run(stop),
                    stop_servers(),
                    instruct_when_ready(),
                )
        finally:
            await context.claude.close()
            await redis.aclose()


def _webhooks_for(settings: Settings, port: int) -> dict[str, Any]:
    """Where the fake Evolution posts its own webhooks: this julia, authenticated as julia expects."""
    if settings.evolution_webhook_secret is not None:
        headers = {"x-julia-token": settings.evolution_webhook_secret.get_secret_value()}
    else:
        assert settings.evolution_api_key is not None
        headers = {"apikey": settings.evolution_api_key.get_secret_value()}
    return {"webhook_url": f"http://127.0.0.1:{port}/webhooks/evolution", "webhook_headers": headers}


async def _seed(dsn: str, medicos: int) -> str:
    """Seed an empty database (on a connection of its own: the seed swaps codecs); a doctor's phone.

    One line instead of the seed's per-table bars (a second for 1,000 doctors), and the seeded campaign
    messages put off a day, so the worker starts quiet and the newcomer's message is the only one sent."""
    conn = await db.connect(dsn)
    try:
        if await clientes.contar_medicos(conn) == 0:
            print(f"julia dev: seeding {medicos:,} synthetic doctors...", flush=True)
            summary = await seed(conn, medicos)
            postponed = await fila_mensagens.adiar_fila_semeada(conn)
            print(
                f"julia dev: {summary.line()}; its {postponed} queued campaign messages wait until tomorrow",
                flush=True,
            )
        else:
            print("julia dev: the database already has doctors; not seeding", flush=True)
        telefone = await clientes.primeiro_telefone(conn)
    finally:
        await conn.close()
    return telefone or "+5511999990000"


def _instructions(args: argparse.Namespace, settings: Settings, telefone: str) -> None:
    assert settings.evolution_api_key is not None
    assert settings.admin_token is not None
    segredo = settings.evolution_webhook_secret
    proof = (
        f"X-Julia-Token: {segredo.get_secret_value()}"
        if segredo is not None
        else f"apikey: {settings.evolution_api_key.get_secret_value()}"
    )
    metrics = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    url = f"http://{args.host}:{args.port}"
    corpo = (
        '{"event":"messages.upsert","instance":"'
        + settings.evolution_instance  # julia refuses another instance's events
        + '","data":{"key":{"remoteJid":"'
        + telefone.lstrip("+")
        + '@s.whatsapp.net","fromMe":false,"id":"DEV-\'$(date +%s)\'"},'
        '"message":{"conversation":"Oi, tem plantão?"},'
        # Sent now: an old messageTimestamp would get the late-message apology (MENSAGEM_ANTIGA_S).
        '"messageType":"conversation","messageTimestamp":\'$(date +%s)\'}}'
    )
    print(
        f"julia dev: API on {url}; Ctrl-C stops everything. For docs/runbook.md's curls:\n"
        f"  export JULIA_URL={url} ADMIN_TOKEN={settings.admin_token.get_secret_value()}"
        f" METRICS_TOKEN={metrics}\n"
        f"julia dev: post a message as {telefone} (the fake Evolution prints Júlia's reply):\n"
        f"  curl -s {url}/webhooks/evolution -H '{proof}' "
        f"-H 'content-type: application/json' -d '{corpo}'",
        flush=True,
    )
