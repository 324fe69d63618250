"""`python -m julia.testing.capacity.floor`: the floor under julia's CPU and latency per reply.

A reply's I/O, as the business defined it, done through the same libraries, clients and event loop julia
uses, with none of julia's own work: no prompt, no parsing, no queue logic, trivial statements and tiny
bodies. Two processes beside the fakes (Claude, Evolution and Chatwoot at 0 ms):

- a webhook server (FastAPI under uvicorn): one Redis MGET and one statement, whose NOTIFY wakes
- a worker (uvloop): answering (claim, context MGET, history, shifts MGET, the SDK's Claude call, the
  completion, whose NOTIFY wakes its sender) and sending (claim, pause GET, limiter INCR, intent,
  sendText, outcome), then the two Chatwoot mirrors: 6 statements, 4 Redis commands, 4 HTTP calls.

That is as few round trips as julia's reply ever makes (each claim for one message, every cache a hit;
docs/capacity.md counts them), each lighter, so what julia spends above the floor is its own work, and
a target below the floor cannot be met by trimming julia.

The driver posts open-loop (Poisson arrivals) at `--rate` for `--window` seconds after a warm-up, reads
both processes' CPU from /proc, and reports CPU per reply and the time from the webhook's 200 to the
fake Evolution receiving the sendText (p50/p90/p99/max), as capacity runs measure julia's time-to-reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

from julia import db, runtime, servers
from julia.integrations.claude import Claude
from julia.integrations.http import cliente_http
from julia.settings import Settings
from julia.testing import controle
from julia.testing.capacity import processes
from julia.testing.capacity.summaries import resumo

CANAL_ENTRADA, CANAL_ENVIO = "julia_piso_entrada", "julia_piso_envio"
PRONTO = "julia-piso-pronto"
MODULO = "julia.testing.capacity.floor"
NUMERO = "5511999990000"  # every floor reply goes to this number; its text is the message's id
DRENAR_S = 30.0  # at most, after the last arrival, for the last reply (Claude's p99 is 8 s in a storm)
AQUECER = 20  # messages, in one second, before the measured window
OCIOSO_S = 5.0  # then this long with nothing to do: what the processes spend idle is reported too
ZERO = {"latencia": {"mediana_ms": 0, "p99_ms": 0}}


# --- the webhook server -----------------------------------------------------------------------------


def app_webhook(dsn: str, redis_url: str) -> FastAPI:
    estado: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def ciclo(_: FastAPI) -> AsyncIterator[None]:
        estado["pool"] = await db.create_pool(dsn, min_size=2, max_size=10)
        estado["redis"] = aioredis.Redis.from_url(redis_url)
        yield
        await estado["redis"].aclose()
        await estado["pool"].close()

    app = FastAPI(lifespan=ciclo)

    @app.get("/health")
    async def saude() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook")
    async def webhook(request: Request) -> dict[str, bool]:
        corpo = await request.json()
        await estado["redis"].mget("piso:medico", "piso:geracao")  # the doctor-by-phone cache
        await estado["pool"].execute("SELECT pg_notify($1, $2)", CANAL_ENTRADA, str(corpo["id"]))
        return {"ok": True}

    return app


# --- the worker ---------------------------------------------------------------------------------------


class Trabalhador:
    """Answers and sends each message with the floor's I/O; the message's id is the text it sends."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool, self.redis = pool, redis
        self.claude = Claude(settings)
        self.http = cliente_http()
        self.settings = settings
        self._tarefas: set[asyncio.Task[None]] = set()

    def recebida(self, _conn: object, _pid: int, canal: str, payload: object) -> None:
        etapa = self._responder if canal == CANAL_ENTRADA else self._enviar
        tarefa = asyncio.create_task(etapa(str(payload)))
        self._tarefas.add(tarefa)
        tarefa.add_done_callback(self._tarefas.discard)

    async def _responder(self, ident: str) -> None:
        await self.pool.fetchval("SELECT $1::text", ident)  # the claim
        await self.redis.mget("piso:ctx", "piso:ctx:geracao")
        await self.pool.fetchval("SELECT $1::text", ident)  # the history
        await self.redis.mget("piso:vagas", "piso:vagas:geracao")
        await self.claude.responder("Você é a Júlia.", "Contexto.", [{"role": "user", "content": "oi"}])
        await self.pool.execute("SELECT pg_notify($1, $2)", CANAL_ENVIO, ident)  # the completion

    async def _enviar(self, ident: str) -> None:
        await self.pool.fetchval("SELECT $1::text", ident)  # the claim
        await self.redis.get("piso:pausa")
        await self.redis.incr("piso:taxa")
        await self.pool.fetchval("SELECT $1::text", ident)  # the intent
        await self._postar(
            f"{self.settings.evolution_url}/message/sendText/julia",
            {"number": NUMERO, "text": ident},
            {"apikey": "falso"},
        )
        await self.pool.fetchval("SELECT $1::text", ident)  # the outcome
        for tipo, texto in (("incoming", "oi"), ("outgoing", ident)):
            await self._postar(
                f"{self.settings.chatwoot_url}/api/v1/accounts/1/conversations/1/messages",
                {"content": texto, "message_type": tipo},
                {"api_access_token": "falso"},
            )

    async def _postar(self, url: str, corpo: dict[str, str], cabecalhos: dict[str, str]) -> None:
        (await self.http.post(url, json=corpo, headers=cabecalhos)).raise_for_status()


async def trabalhar(dsn: str, redis_url: str) -> None:
    """Answer until the process is stopped."""
    pool = await db.create_pool(dsn, min_size=2, max_size=10)
    trabalhador = Trabalhador(Settings(), pool, aioredis.Redis.from_url(redis_url))
    escuta = await db.connect(dsn)
    for canal in (CANAL_ENTRADA, CANAL_ENVIO):
        await escuta.add_listener(canal, trabalhador.recebida)
    print(PRONTO, flush=True)
    await asyncio.Event().wait()  # SIGTERM ends the process: nothing of it outlives the run


# --- the driver -------------------------------------------------------------------------------------


async def dirigir(
    url: str, taxa: float, janela_s: float, semente: int, prefixo: str = ""
) -> dict[str, float]:
    """Post Poisson arrivals at `taxa` per second for `janela_s`; each id and when its 200 came back."""
    rng = random.Random(semente)
    n = max(1, round(taxa * janela_s))
    inicio = time.time() + 0.5
    chegadas = sorted(rng.uniform(0, janela_s) for _ in range(n))
    aceitas: dict[str, float] = {}
    async with Httpx2AiohttpClient(base_url=url, timeout=httpx2.Timeout(30.0)) as http:

        async def um(i: int, quando: float) -> None:
            await asyncio.sleep(max(0.0, inicio + quando - time.time()))
            resposta = await http.post("/webhook", json={"id": f"{prefixo}{i}", "texto": "Tenho interesse"})
            resposta.raise_for_status()
            aceitas[f"{prefixo}{i}"] = time.time()

        await asyncio.gather(*(um(i, quando) for i, quando in enumerate(chegadas)))
    return aceitas


@contextlib.contextmanager
def _processos(
    dsn: str, redis_url: str, pasta: Path, config: dict[str, Any]
) -> Iterator[tuple[str, controle.Falsos, list[processes.Processo]]]:
    """The fakes (`config`), the webhook server and the worker, started and ready; stopped on exit."""
    with controle.iniciar(config) as falsos:
        ambiente = {**os.environ, **falsos.ambiente(), "DATABASE_URL": dsn, "REDIS_URL": redis_url}
        porta = processes.porta_livre()
        modulo = [sys.executable, "-m", MODULO]
        servidor = processes.iniciar("webhook", ["servir", "--port", str(porta)], ambiente, pasta, modulo)
        trabalhador = processes.iniciar("worker", ["trabalhar"], ambiente, pasta, modulo)
        try:
            url = f"http://127.0.0.1:{porta}"
            processes.esperar_http(f"{url}/health", servidor)
            processes.esperar_linha(trabalhador, PRONTO)
            yield url, falsos, [servidor, trabalhador]
        finally:
            trabalhador.parar()
            servidor.parar()


async def _enviadas(falsos: controle.Falsos, ids: Collection[str], limite_s: float) -> dict[str, float]:
    """When the fake Evolution received each of `ids`' sendText, reading until all came or `limite_s`."""
    limite = time.monotonic() + limite_s
    vistas: dict[str, float] = {}
    lidas = 0
    while True:
        novas = await falsos.enviadas(lidas)  # only what came since the last read
        lidas += len(novas)
        vistas.update((e["texto"], e["recebido_em"]) for e in novas if e["texto"] in ids)
        if len(vistas) == len(ids) or time.monotonic() > limite:
            return vistas
        await asyncio.sleep(0.2)


def medir(
    servicos: servers.Servers,
    taxa: float,
    janela_s: float,
    pasta: Path,
    *,
    ocioso_s: float = OCIOSO_S,
    drenar_s: float = DRENAR_S,
    falsos_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One floor run on `servicos`: CPU per reply of each process and the time-to-reply summary. The
    fakes answer at once unless `falsos_config` says otherwise (a capacity run's, to compare with it)."""
    config = falsos_config or {"claude": ZERO, "evolution": ZERO, "chatwoot": ZERO}
    with _processos(servicos.database_url, servicos.redis_url, pasta, config) as (url, falsos, pids):
        # Warmed first: the clients' connections opened, statements prepared, lazy imports done.
        aquecidas = asyncio.run(dirigir(url, AQUECER, 1.0, semente=0, prefixo="aquecer"))
        asyncio.run(_enviadas(falsos, aquecidas, drenar_s))
        ocioso = [processes.cpu_s(p.pid) for p in pids]
        time.sleep(ocioso_s)
        antes = [processes.cpu_s(p.pid) for p in pids]
        aceitas = asyncio.run(dirigir(url, taxa, janela_s, semente=1))
        enviadas = asyncio.run(_enviadas(falsos, aceitas, drenar_s))
        depois = [processes.cpu_s(p.pid) for p in pids]
    nomes = ("webhook", "worker")
    cpu = {nome: _ms(a, b, len(enviadas)) for nome, a, b in zip(nomes, antes, depois, strict=True)}
    parado = {nome: _ms(a, b, ocioso_s) for nome, a, b in zip(nomes, ocioso, antes, strict=True)}
    return {
        "taxa_por_s": taxa,
        "janela_s": janela_s,
        "mensagens": len(aceitas),
        "respondidas": len(enviadas),
        "cpu_ms_por_resposta": {**cpu, "total": cpu["webhook"] + cpu["worker"]},
        "cpu_ms_por_s_ocioso": parado,
        "tempo_resposta_ms": resumo([(t - aceitas[i]) * 1000 for i, t in enviadas.items()]),
        "carga": os.getloadavg(),
    }


def _ms(antes: float | None, depois: float | None, por: float) -> float:
    """CPU milliseconds between two /proc readings, per `por` (NaN when /proc lacked one or `por` is 0)."""
    return (depois - antes) * 1000 / por if antes is not None and depois is not None and por else math.nan


def linha(r: dict[str, Any]) -> str:
    cpu, t = r["cpu_ms_por_resposta"], r["tempo_resposta_ms"]
    ocioso = sum(r["cpu_ms_por_s_ocioso"].values())
    return (
        f"floor at {r['taxa_por_s']:g}/s for {r['janela_s']:g} s: {r['respondidas']}/{r['mensagens']} "
        f"answered; CPU per reply {cpu['total']:.2f} ms (webhook {cpu['webhook']:.2f}, worker "
        f"{cpu['worker']:.2f}; idle {ocioso:.1f} ms/s); webhook 200 to sendText p50 {t['p50']:.1f} "
        f"p90 {t['p90']:.1f} p99 {t['p99']:.1f} max {t['max']:.1f} ms; "
        f"load {' '.join(f'{x:.2f}' for x in r['carga'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULO}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="papel")
    servir = sub.add_parser("servir", help="(internal) the floor's webhook server")
    servir.add_argument("--port", type=int, required=True)
    sub.add_parser("trabalhar", help="(internal) the floor's worker")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[17.0], help="messages per second, one run each (default 17)"
    )
    parser.add_argument("--window", type=float, default=60.0, help="seconds of arrivals (default 60)")
    parser.add_argument(
        "--out", type=Path, default=Path("reports/out/capacity-floor.json"), help="the runs, as JSON"
    )
    parser.add_argument(
        "--logs", type=Path, default=Path("reports/out/capacity/piso"), help="the two processes' output"
    )
    args = parser.parse_args(argv)
    if args.papel == "servir":
        app = app_webhook(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return 0
    if args.papel == "trabalhar":
        runtime.run_long(trabalhar(os.environ["DATABASE_URL"], os.environ["REDIS_URL"]))
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = Settings()
    resultados = []
    with servers.resolve(settings.database_url, settings.redis_url) as found:
        for taxa in args.rate:
            resultado = medir(found, taxa, args.window, args.logs)
            resultados.append(resultado)
            print(linha(resultado), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    quando = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps({"quando": quando, "execucoes": resultados}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("floor run interrupted: its processes and servers are stopped", file=sys.stderr)
        sys.exit(130)
