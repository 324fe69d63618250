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
both processes' CPU from /proc and their USS once a second (as a capacity run samples julia's), and
reports CPU per reply, memory held per reply in flight (julia.perf.engine.memory.held_per_unit) and the
time from the webhook's 200 to the fake Evolution receiving the sendText (p50/p90/p99/max), as capacity
runs measure julia's.
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
import threading
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
from julia.perf.engine import memory
from julia.settings import Settings
from julia.testing import control
from julia.testing.capacity import processes
from julia.testing.capacity.summaries import summary

INBOUND_CHANNEL, SEND_CHANNEL = "julia_piso_entrada", "julia_piso_envio"
READY = "julia-piso-pronto"
MODULE = "julia.testing.capacity.floor"
NUMBER = "5511999990000"  # every floor reply goes to this number; its text is the message's id
DRAIN_S = 30.0  # at most, after the last arrival, for the last reply (Claude's p99 is 8 s in a storm)
WARM_UP = 20  # messages, in one second, before the measured window
IDLE_S = 5.0  # then this long with nothing to do: what the processes spend idle is reported too
ZERO = {"latencia": {"mediana_ms": 0, "p99_ms": 0}}
SAMPLE_S = 1.0  # the processes' USS read this often, as a capacity run reads julia's (load.SAMPLE_S)


# --- the webhook server -----------------------------------------------------------------------------


def webhook_app(dsn: str, redis_url: str) -> FastAPI:
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["pool"] = await db.create_pool(dsn, min_size=2, max_size=10)
        state["redis"] = aioredis.Redis.from_url(redis_url)
        yield
        await state["redis"].aclose()
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook")
    async def webhook(request: Request) -> dict[str, bool]:
        body = await request.json()
        await state["redis"].mget("piso:medico", "piso:geracao")  # the doctor-by-phone cache
        await state["pool"].execute("SELECT pg_notify($1, $2)", INBOUND_CHANNEL, str(body["id"]))
        return {"ok": True}

    return app


# --- the worker ---------------------------------------------------------------------------------------


class FloorWorker:
    """Answers and sends each message with the floor's I/O; the message's id is the text it sends."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool, self.redis = pool, redis
        self.claude = Claude(settings)
        self.http = cliente_http()
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def received(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        stage_name = self._answer if channel == INBOUND_CHANNEL else self._send
        task = asyncio.create_task(stage_name(str(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, ident: str) -> None:
        await self.pool.fetchval("SELECT $1::text", ident)  # the claim
        await self.redis.mget("piso:ctx", "piso:ctx:geracao")
        await self.pool.fetchval("SELECT $1::text", ident)  # the history
        await self.redis.mget("piso:vagas", "piso:vagas:geracao")
        await self.claude.reply("Você é a Júlia.", "Contexto.", [{"role": "user", "content": "oi"}])
        await self.pool.execute("SELECT pg_notify($1, $2)", SEND_CHANNEL, ident)  # the completion

    async def _send(self, ident: str) -> None:
        await self.pool.fetchval("SELECT $1::text", ident)  # the claim
        await self.redis.get("piso:pausa")
        await self.redis.incr("piso:taxa")
        await self.pool.fetchval("SELECT $1::text", ident)  # the intent
        await self._post(
            f"{self.settings.evolution_url}/message/sendText/julia",
            {"number": NUMBER, "text": ident},
            {"apikey": "falso"},
        )
        await self.pool.fetchval("SELECT $1::text", ident)  # the outcome
        for kind, text in (("incoming", "oi"), ("outgoing", ident)):
            await self._post(
                f"{self.settings.chatwoot_url}/api/v1/accounts/1/conversations/1/messages",
                {"content": text, "message_type": kind},
                {"api_access_token": "falso"},
            )

    async def _post(self, url: str, body: dict[str, str], headers: dict[str, str]) -> None:
        (await self.http.post(url, json=body, headers=headers)).raise_for_status()


async def work(dsn: str, redis_url: str) -> None:
    """Answer until the process is stopped."""
    pool = await db.create_pool(dsn, min_size=2, max_size=10)
    floor_worker = FloorWorker(Settings(), pool, aioredis.Redis.from_url(redis_url))
    listener = await db.connect(dsn)
    for channel in (INBOUND_CHANNEL, SEND_CHANNEL):
        await listener.add_listener(channel, floor_worker.received)
    print(READY, flush=True)
    await asyncio.Event().wait()  # SIGTERM ends the process: nothing of it outlives the run


# --- the driver -------------------------------------------------------------------------------------


async def drive(url: str, rate: float, window_s: float, seed: int, prefix: str = "") -> dict[str, float]:
    """Post Poisson arrivals at `rate` per second for `window_s`; each id and when its 200 came back."""
    rng = random.Random(seed)
    n = max(1, round(rate * window_s))
    start_at = time.time() + 0.5
    arrivals = sorted(rng.uniform(0, window_s) for _ in range(n))
    accepted: dict[str, float] = {}
    async with Httpx2AiohttpClient(base_url=url, timeout=httpx2.Timeout(30.0)) as http:

        async def one_message(i: int, when: float) -> None:
            await asyncio.sleep(max(0.0, start_at + when - time.time()))
            reply = await http.post("/webhook", json={"id": f"{prefix}{i}", "texto": "Tenho interesse"})
            reply.raise_for_status()
            accepted[f"{prefix}{i}"] = time.time()

        await asyncio.gather(*(one_message(i, when) for i, when in enumerate(arrivals)))
    return accepted


def _uss(pids: list[processes.Process]) -> dict[str, int]:
    """Each process's USS now, by its name (none for a process gone)."""
    readings = {p.name: memory.read(p.pid) for p in pids}
    return {name: r.uss for name, r in readings.items() if r is not None}


@contextlib.contextmanager
def _sampling(pids: list[processes.Process]) -> Iterator[list[tuple[float, dict[str, int]]]]:
    """The processes' USS once a second, with when it was read (time.time()), while the block runs: read in
    a thread, as the capacity run reads julia's beside its driver, so the drive's loop is not held up."""
    seen: list[tuple[float, dict[str, int]]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_S):
            read_now = _uss(pids)
            seen.append((time.time(), read_now))

    thread = threading.Thread(target=sample, name="floor-uss", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def _processes(
    dsn: str, redis_url: str, folder: Path, config: dict[str, Any]
) -> Iterator[tuple[str, control.Fakes, list[processes.Process]]]:
    """The fakes (`config`), the webhook server and the worker, started and ready; stopped on exit."""
    with control.start(config) as fakes:
        environment = {**os.environ, **fakes.ambiente(), "DATABASE_URL": dsn, "REDIS_URL": redis_url}
        port = processes.free_port()
        module = [sys.executable, "-m", MODULE]
        server = processes.start("webhook", ["serve", "--port", str(port)], environment, folder, module)
        floor_worker = processes.start("worker", ["work"], environment, folder, module)
        try:
            url = f"http://127.0.0.1:{port}"
            processes.wait_http(f"{url}/health", server)
            processes.wait_line(floor_worker, READY)
            yield url, fakes, [server, floor_worker]
        finally:
            floor_worker.stop()
            server.stop()


async def _sent(fakes: control.Fakes, ids: Collection[str], limit_s: float) -> dict[str, float]:
    """When the fake Evolution received each of `ids`' sendText, reading until all came or `limit_s`."""
    limit = time.monotonic() + limit_s
    seen_ids: dict[str, float] = {}
    read_now = 0
    while True:
        new = await fakes.enviadas(read_now)  # only what came since the last read
        read_now += len(new)
        seen_ids.update((e["texto"], e["recebido_em"]) for e in new if e["texto"] in ids)
        if len(seen_ids) == len(ids) or time.monotonic() > limit:
            return seen_ids
        await asyncio.sleep(0.2)


def measure(
    found_servers: servers.Servers,
    rate: float,
    window_s: float,
    folder: Path,
    *,
    idle_s: float = IDLE_S,
    drain_s: float = DRAIN_S,
    fakes_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One floor run on `found_servers`: CPU per reply of each process and the time-to-reply summary. The
    fakes answer at once unless `fakes_config` says otherwise (a capacity run's, to compare with it)."""
    config = fakes_config or {"claude": ZERO, "evolution": ZERO, "chatwoot": ZERO}
    with _processes(found_servers.database_url, found_servers.redis_url, folder, config) as (
        url,
        fakes,
        pids,
    ):
        # Memory is read from before the warm-up, as julia's is from before its storm's first message:
        # both sides started, pools open, no message done, so what first use loads counts on both.
        idle_uss = _uss(pids)
        # Warmed first: the clients' connections opened, statements prepared, lazy imports done.
        warmed = asyncio.run(drive(url, WARM_UP, 1.0, seed=0, prefix="aquecer"))
        asyncio.run(_sent(fakes, warmed, drain_s))
        idle = [processes.cpu_s(p.pid) for p in pids]
        time.sleep(idle_s)
        before = [processes.cpu_s(p.pid) for p in pids]
        with _sampling(pids) as uss_seen:
            accepted = asyncio.run(drive(url, rate, window_s, seed=1))
            sent = asyncio.run(_sent(fakes, accepted, drain_s))
        after = [processes.cpu_s(p.pid) for p in pids]
    names_ = ("webhook", "worker")
    cpu = {name: _ms(a, b, len(sent)) for name, a, b in zip(names_, before, after, strict=True)}
    stopped = {name: _ms(a, b, idle_s) for name, a, b in zip(names_, idle, before, strict=True)}
    return {
        "taxa_por_s": rate,
        "janela_s": window_s,
        "mensagens": len(accepted),
        "respondidas": len(sent),
        "cpu_ms_por_resposta": {**cpu, "total": cpu["webhook"] + cpu["worker"]},
        "cpu_ms_por_s_ocioso": stopped,
        "memoria_por_resposta": memory.held_per_unit(
            uss_seen, idle_uss, list(accepted.values()), list(sent.values())
        ),
        "tempo_resposta_ms": summary([(t - accepted[i]) * 1000 for i, t in sent.items()]),
        "carga": os.getloadavg(),
    }


def _ms(before: float | None, after: float | None, per_unit: float) -> float:
    """CPU milliseconds between two /proc readings, per `per_unit` (NaN when /proc lacked one or it is 0)."""
    return (
        (after - before) * 1000 / per_unit
        if before is not None and after is not None and per_unit
        else math.nan
    )


def summary_line(r: dict[str, Any]) -> str:
    cpu, t = r["cpu_ms_por_resposta"], r["tempo_resposta_ms"]
    idle = sum(r["cpu_ms_por_s_ocioso"].values())
    held = r.get("memoria_por_resposta")
    return (
        f"floor at {r['taxa_por_s']:g}/s for {r['janela_s']:g} s: {r['respondidas']}/{r['mensagens']} "
        f"answered; CPU per reply {cpu['total']:.2f} ms (webhook {cpu['webhook']:.2f}, worker "
        f"{cpu['worker']:.2f}; idle {idle:.1f} ms/s); "
        + (
            f"memory held per reply in flight {held['kib']:.0f} KiB "
            f"({min(held['samples_kib']):.0f}-{max(held['samples_kib']):.0f} over {len(held['samples_kib'])} "
            f"samples, at most {held['in_flight_peak']} in flight); "
            if held
            else "memory per reply not measured; "
        )
        + f"webhook 200 to sendText p50 {t['p50']:.1f} "
        f"p90 {t['p90']:.1f} p99 {t['p99']:.1f} max {t['max']:.1f} ms; "
        f"load {' '.join(f'{x:.2f}' for x in r['carga'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="role")
    serve_parser = sub.add_parser("serve", help="(internal) the floor's webhook server")
    serve_parser.add_argument("--port", type=int, required=True)
    sub.add_parser("work", help="(internal) the floor's worker")
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
    if args.role == "serve":
        app = webhook_app(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return 0
    if args.role == "work":
        runtime.run_long(work(os.environ["DATABASE_URL"], os.environ["REDIS_URL"]))
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = Settings()
    results_ = []
    with servers.resolve(settings.database_url, settings.redis_url) as found:
        for rate in args.rate:
            result = measure(found, rate, args.window, args.logs)
            results_.append(result)
            print(summary_line(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps({"quando": when, "execucoes": results_}))
    return 0


if __name__ == "__main__":
    processes.run_main(main, "floor run")
