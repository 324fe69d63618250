"""One capacity run: seed, start the fakes and julia's processes, drive the doctors open-loop, watch
the queues and CPU, stop everything, and summarise it as a dict (the perf engine's benchmarks of it are
julia.testing.capacity.benches)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import httpx2
import redis.asyncio as aioredis
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

from julia import db, gc_pauses
from julia.data.operacao import contar_operacao
from julia.perf.engine import memory
from julia.perf.engine.ab import with_redis_db
from julia.seed.database import seeded_database
from julia.servers import Servers
from julia.settings import Settings
from julia.testing import control
from julia.testing.capacity import cohort, processes
from julia.testing.capacity.summaries import per_second, summary

log = logging.getLogger(__name__)

DATABASE = "julia_capacidade"
REDIS_DB = 7  # a database of its own on a shared Redis: FLUSHDB between runs touches nothing else
KEY = "capacidade"
SAMPLE_S = 1.0
READ_S = 0.25
WARM_UP_S = 2.0  # after every process holds its pool: the worker's first claim, the caches' first reads
ALL_READY_S = 120.0  # a loaded machine takes long to import the SDK and start a worker
CONNECTIONS = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
"""
# How the run's inbound rows were tried: waits on Claude's rate limit (not counted as tries, see
# julia/worker/reply.py) and failed tries that did count.
TRIES = """
SELECT count(*) FILTER (WHERE esperas > 0) AS com_espera,
       coalesce(sum(esperas), 0)::int AS esperas,
       count(*) FILTER (WHERE tentativas - esperas > 1) AS com_falha,
       count(*) FILTER (WHERE status = 'erro') AS erro
FROM entradas
"""
# Where each reply's time went, from the rows' own timestamps (one clock, the server's): the webhook's
# statement registers the message; the completing statement marks it done and queues the reply, stamping
# both with the same now(), which is how the two rows are paired; the sender marks the reply sent once
# sendText answered. So `resposta` is the inbound queue, context, Claude and completion, `envio` the reply
# queue, the sender's rate and sendText.
STAGES = """
SELECT 1000 * extract(epoch FROM e.feita_em - e.created_at) AS resposta,
       1000 * extract(epoch FROM f.enviada_em - f.created_at) AS envio
FROM entradas e
JOIN fila_mensagens f ON f.conversa_id = e.conversa_id AND f.created_at = e.feita_em
WHERE e.status = 'feita' AND f.status = 'enviada'
"""
POSTGRES = "postgres"
DRIVER = "driver"  # the load generator's CPU, beside julia's processes and Postgres
FAKES = "fakes"  # the fake third parties' server: on the same cores, so its CPU is the run's too
DRIVER_CONNECTIONS = 200  # the driver's connections to julia serve at most, as a gateway would hold
WEBHOOK_TRIES = 6  # Evolution retries a failed webhook (up to 10, from 5 s); shorter here


# Scenario's fields by the keys the results' "cenario" has always had (dashboards and older results read
# them; the report and gate.cause too).
PUBLISHED = {
    "window_s": "janela_s",
    "mode": "modo",
    "rounds": "rodadas",
    "think_s": "pensar_s",
    "claude_median_ms": "claude_mediana_ms",
    "evolution_median_ms": "evolution_mediana_ms",
    "drain_s": "drenar_s",
    "first_contact": "primeiro_contato",
    "channel": "canal",
    "environment": "ambiente",
    "seed": "semente",
}


@dataclass(frozen=True)
class Scenario:
    medicos: int = 1000
    window_s: float = 60.0
    # julia worker processes; 0 measures the webhooks alone (ingestion: nothing is answered, every
    # accepted message must be in Postgres).
    workers: int = 1
    serve_workers: int = 1  # uvicorn worker processes of the one `julia serve` (`--workers`)
    mode: Literal["tempestade", "conversa"] = "tempestade"
    rounds: int = 3  # conversa: messages per doctor
    think_s: float = 5.0  # conversa: mean think time between Júlia's reply and the next message
    claude_median_ms: float = 2000.0
    claude_p99_ms: float = 8000.0
    claude_rpm: int | None = None
    evolution_median_ms: float = 150.0
    evolution_p99_ms: float = 600.0
    drain_s: float = 120.0  # after the last message: unanswered by then is lost
    chatwoot: bool = True  # mirror to (fake) Chatwoot, as production does
    # Doctors Chatwoot has never seen (a first, spontaneous message): the reply path creates the contact
    # and the conversation (two more calls and three statements). By default they answer a campaign that
    # julia sent, and mirrored, so both exist (cohort.already_in_chatwoot).
    first_contact: bool = False
    # Doctors a real campaign is created for (POST /admin/campanhas) just before the first message, at
    # the campaign rate of the settings, so its sends compete with the replies for the sender; 0: none.
    # Either way the seed's own pending rows are cleared: the queue holds only what this run puts there.
    campanha: int = 0
    # The instance's integration (EVOLUTION_INTEGRATION and the fake's): on the Cloud API the campaign
    # names the approved template `oferta_plantao` and goes through sendTemplate (issue 36).
    channel: Literal["baileys", "cloud-api"] = "baileys"
    environment: dict[str, str] = field(default_factory=dict)  # julia settings for serve and workers
    seed: int = 42

    def published(self) -> dict[str, Any]:
        """The scenario as the results have always spelled it (their "cenario": PUBLISHED's keys)."""
        return {PUBLISHED.get(key, key): value for key, value in asdict(self).items()} | {"nome": self.name()}

    def name(self) -> str:
        campanha = f"-campanha{self.campanha}" if self.campanha else ""
        first = "-primeirocontato" if self.first_contact else ""
        mode = self.mode if self.workers else "ingestao"
        serve = f"-{self.serve_workers}serve" if self.serve_workers != 1 else ""
        channel = "-cloudapi" if self.channel == "cloud-api" else ""
        return (
            f"{mode}-{self.medicos}med-{self.window_s:.0f}s-{self.workers}w{serve}{campanha}{channel}{first}"
        )


@dataclass
class Observed:
    accepted_at: dict[str, float] = field(default_factory=dict)  # token -> webhook accepted (time.time())
    replies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    other_sent: int = 0  # sends that answer no benchmark message: the campaign's
    numbers: set[str] = field(default_factory=set)  # every number a send reached
    to_opted_out: int = 0  # of them, doctors opted out or blocked: the 0, whatever else happens
    claude_s: list[float] = field(default_factory=list)  # the fake Claude's latency drawn for each call
    campanha_queued: int = 0  # rows the campaign queued
    webhook_ms: list[float] = field(default_factory=list)
    # How late each message left against its scheduled instant: the driver's own event loop. An open-loop
    # driver that stalls sends a burst later and measures its stall as webhook time (it did: c5c7e52).
    lateness_ms: list[float] = field(default_factory=list)
    webhook_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    not_stored: int = 0  # accepted (200) yet not in Postgres once the run ended: lost by julia
    refused: int = 0  # messages whose webhook never got a 200 (Evolution would drop them too)
    samples: list[dict[str, Any]] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)  # TENTATIVAS at the end of the run
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # ETAPAS' columns: each reply's stages
    # Each julia process's memory, sampled with the samples: (messages it has done so far, reading).
    memory_points: dict[str, list[tuple[int, memory.Reading]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # The servers' beside them, in bytes: Postgres's PSS (all its processes), Redis's own RSS and data.
    servers_seen: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    gc_record: list[dict[str, Any]] = field(default_factory=list)  # gc_pauses.summary of each julia process
    # Each julia process's USS before the first message, and at each sample with when it was read
    # (time.time(), the clock of accepted_at and of the replies): its memory per reply in flight.
    idle_uss: dict[str, int] = field(default_factory=dict)
    uss_seen: list[tuple[float, dict[str, int]]] = field(default_factory=list)


def _machine_load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def fakes_config(scenario: Scenario) -> dict[str, Any]:
    """The fake third parties' settings for `scenario`: Claude's and Evolution's latencies, Claude's rpm."""
    return {
        "claude": {
            "latencia": {"mediana_ms": scenario.claude_median_ms, "p99_ms": scenario.claude_p99_ms},
            "rpm": scenario.claude_rpm,
        },
        "evolution": {
            "integracao": scenario.channel,
            "latencia": {"mediana_ms": scenario.evolution_median_ms, "p99_ms": scenario.evolution_p99_ms},
        },
    }


async def run_scenario(scenario: Scenario, found_servers: Servers, folder: Path) -> dict[str, Any]:
    """Run one scenario on `found_servers`' servers; logs of the julia processes go under `folder`."""
    rng = random.Random(scenario.seed)
    # Seeded with a margin: some doctors opted out or are held by a person, and Júlia answers neither;
    # a campaign needs a tag that reaches its size (the widest, "plantonista", holds about 45% of them).
    seeded = max(math.ceil(scenario.medicos * 1.4) + 10, math.ceil(scenario.campanha * 2.5))
    dsn, _ = await seeded_database(found_servers.database_url, DATABASE, seeded)
    redis_url = with_redis_db(found_servers.redis_url, REDIS_DB)
    redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.answerable(conn, scenario.medicos)
        if not scenario.first_contact:
            await cohort.already_in_chatwoot(conn, telefones)
        await conn.execute("DELETE FROM fila_mensagens WHERE status IN ('pendente', 'processando')")
        with control.start(fakes_config(scenario), semente=scenario.seed) as fakes:
            return await _with_processes(scenario, fakes, dsn, redis_url, conn, telefones, rng, folder)
    finally:
        await conn.close()


async def _with_processes(
    scenario: Scenario,
    fakes: control.Fakes,
    dsn: str,
    redis_url: str,
    conn: asyncpg.Connection,
    telefones: list[str],
    rng: random.Random,
    folder: Path,
) -> dict[str, Any]:
    environment = {**os.environ, **fakes.ambiente(), "DATABASE_URL": dsn, "REDIS_URL": redis_url}
    environment["EVOLUTION_API_KEY"] = KEY
    environment["ADMIN_TOKEN"] = KEY
    # A campaign is sent now whatever the hour and the day (0 and 24: always open), on either channel.
    environment["CAMPANHA_HORA_INICIO"], environment["CAMPANHA_HORA_FIM"] = "0", "24"
    environment["CAMPANHA_ON_WEEKENDS"] = environment["CAMPANHA_ON_HOLIDAYS"] = "true"
    environment["EVOLUTION_INTEGRATION"] = scenario.channel
    # What is measured is julia's capacity at the campaign rate of the settings (its sends competing with
    # the replies), not a Baileys number's protection, which bounds the volume by design: the hourly and
    # daily most are lifted and the typing delay is off, as in the runs before issue 36 (--set restores them).
    environment["EVOLUTION_CAMPANHA_MAX_PER_HOUR"] = environment["EVOLUTION_CAMPANHA_MAX_PER_DAY"] = (
        "1000000000"
    )
    environment["EVOLUTION_TYPING_DELAY_MS"] = "0"
    if not scenario.chatwoot:
        environment.pop("CHATWOOT_URL")
    folder = folder / scenario.name()
    # Each julia process writes its garbage-collector pauses there when it stops (julia.gc_pauses).
    shutil.rmtree(folder / "gc", ignore_errors=True)
    environment["GC_PAUSES_DIR"] = str(folder / "gc")
    environment.update(scenario.environment)
    port = processes.free_port()
    api = f"http://127.0.0.1:{port}"
    arguments = ["serve", "--port", str(port), "--workers", str(scenario.serve_workers)]
    serve = processes.start("serve", arguments, environment, folder)
    workers = [
        processes.start(f"worker{i}", ["worker"], environment, folder) for i in range(scenario.workers)
    ]
    all_processes = [serve, *workers]
    try:
        await asyncio.to_thread(processes.wait_http, f"{api}/health", serve)
        pools = scenario.serve_workers + scenario.workers
        await wait_for_pools(conn, all_processes, pools * int(environment.get("DB_POOL_MIN", "2")))
        await asyncio.sleep(WARM_UP_S)
        postmaster = processes.parent(int(await conn.fetchval("SELECT pg_backend_pid()")))
        others = {POSTGRES: postmaster, FAKES: fakes.processo.pid if fakes.processo else None}
        seen = Observed()
        idle = await asyncio.to_thread(_read_memory, all_processes, None)
        seen.idle_uss = {name: reading.uss for name, reading in idle.items()}
        cpu_before = _cpu(all_processes, others)
        load_before = _machine_load()
        start_at = time.time() + 0.5
        arrivals_end = asyncio.Event()
        # julia's own client (httpx2 over aiohttp's transport): httpx's pool rescans every connection per
        # request, so at 200 webhooks/s the driver took 3-5 ms of CPU per request, neared a core and
        # measured its own queue as julia's latency.
        async with Httpx2AiohttpClient(
            base_url=api,
            timeout=httpx2.Timeout(30.0),
            limits=httpx2.Limits(max_connections=DRIVER_CONNECTIONS),
        ) as http:
            watchers = [
                asyncio.create_task(_read_sent(fakes, seen, arrivals_end)),
                asyncio.create_task(
                    _samples(conn, fakes, redis_url, seen, all_processes, others, start_at, arrivals_end)
                ),
            ]
            if scenario.campanha:
                seen.campanha_queued = await _create_campanha(
                    http, conn, scenario.campanha, environment, scenario.channel
                )
            await _drive(scenario, http, telefones, seen, rng, start_at)
            last = max(seen.accepted_at.values(), default=time.time())
            if scenario.workers:
                await _drain(seen, scenario.drain_s)
            drained = time.time()
            await asyncio.sleep(2 * READ_S)  # one more read: a late duplicate is seen
            arrivals_end.set()
            await asyncio.gather(*watchers)
        cpu_after = _cpu(all_processes, others)
        seen.to_opted_out = await cohort.how_many_opted_out(conn, seen.numbers)
        seen.not_stored = len(seen.accepted_at) - await cohort.how_many_stored(conn, list(seen.accepted_at))
        seen.claude_s = await fakes.claude_latencies()
        tries = await conn.fetchrow(TRIES)
        assert tries is not None  # an aggregate without GROUP BY always returns its row
        seen.tries = dict(tries)
        stages = await conn.fetch(STAGES)
        seen.stages_ms = {name: [float(e[name]) for e in stages] for name in ("resposta", "envio")}
        counters = (await fakes.estado())["contadores"]
        slack = await fakes.slack()
    finally:
        for proc in reversed(all_processes):
            proc.stop()
    seen.gc_record = [gc_pauses.summary(r) for r in gc_pauses.load(folder / "gc")]
    return _result(
        scenario, seen, start_at, last, drained, cpu_before, cpu_after, counters, slack, load_before, folder
    )


async def wait_for_pools(
    conn: asyncpg.Connection, all_processes: list[processes.Process], connections: int
) -> None:
    """Until every julia process (each uvicorn worker of serve too) has opened its pool: `connections` in all,
    DB_POOL_MIN each. A worker that is still importing would otherwise count its start-up in the first
    doctors' time-to-reply."""
    limit = time.monotonic() + ALL_READY_S
    while await conn.fetchval(CONNECTIONS) < 1 + connections:
        for p in all_processes:
            if p.popen.poll() is not None:
                raise RuntimeError(f"{p.name} exited with {p.popen.returncode}: see {p.log}")
        if time.monotonic() > limit:
            raise RuntimeError(
                f"julia processes not connected after {ALL_READY_S:.0f} s: see {all_processes[0].log}"
            )
        await asyncio.sleep(0.2)


async def _create_campanha(
    http: httpx2.AsyncClient,
    conn: asyncpg.Connection,
    medicos_target: int,
    environment: dict[str, str],
    channel: Literal["baileys", "cloud-api"],
) -> int:
    """A campaign to the tag whose eligible doctors come closest to `medicos_target`, spread at the
    sender's campaign rate (EVOLUTION_CAMPANHA_RATE_PER_S, julia's default unless --set); rows queued.
    On the Cloud API it names the approved template (the only kind Meta takes), else free text."""
    tag = await conn.fetchval(cohort.CLOSEST_TAG, medicos_target)
    per_s = float(environment.get("EVOLUTION_CAMPANHA_RATE_PER_S", Settings().evolution_campanha_rate_per_s))
    message = (
        {"modelo": cohort.CAMPANHA_TEMPLATE} if channel == "cloud-api" else {"texto": cohort.CAMPANHA_TEXT}
    )
    body = {
        "id": f"capacidade-{cohort.new_token()}",
        "tag": tag,
        **message,
        "por_minuto": min(1000, max(1, round(60 * per_s))),
    }
    reply = await http.post("/admin/campanhas", json=body, headers={"Authorization": f"Bearer {KEY}"})
    if reply.status_code != 201:
        raise RuntimeError(f"the campaign was refused: HTTP {reply.status_code} {reply.text[:200]}")
    return int(reply.json()["enfileiradas"])


def _cpu(all_processes: list[processes.Process], others: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of julia's processes, of `others` (Postgres's postmaster, the fakes) and of
    this driver. Each with its children: `julia serve --workers N` is uvicorn's supervisor and N worker
    processes, Postgres a backend per connection."""
    readings = {p.name: processes.cpu_s(p.pid, children=True) for p in all_processes}
    readings.update(
        {name: processes.cpu_s(pid, children=True) if pid else None for name, pid in others.items()}
    )
    # The load generator itself (this process): a driver near a whole core sends late and measures its
    # own queue as julia's webhook time.
    readings[DRIVER] = time.process_time()
    return readings


async def _drive(
    scenario: Scenario,
    http: httpx2.AsyncClient,
    telefones: list[str],
    seen: Observed,
    rng: random.Random,
    start_at: float,
) -> None:
    """Open loop: doctor i writes at its arrival time whether or not the server kept up. Arrivals are a
    Poisson process over the window conditioned on N doctors (N uniform instants, sorted)."""
    arrivals = sorted(rng.uniform(0, scenario.window_s) for _ in telefones)
    if scenario.mode == "tempestade":
        tasks = [
            asyncio.create_task(_message(http, telefone, seen, start_at + arrival))
            for telefone, arrival in zip(telefones, arrivals, strict=True)
        ]
    else:
        tasks = [
            asyncio.create_task(
                _converse(scenario, http, telefone, seen, start_at + arrival, random.Random(i))
            )
            for i, (telefone, arrival) in enumerate(zip(telefones, arrivals, strict=True))
        ]
    await asyncio.gather(*tasks)


async def _message(http: httpx2.AsyncClient, telefone: str, seen: Observed, when: float) -> str | None:
    """Post one message at `when`, retried as Evolution retries; its token once accepted."""
    await asyncio.sleep(max(0.0, when - time.time()))
    seen.lateness_ms.append(max(0.0, time.time() - when) * 1000)
    token = cohort.new_token()
    body = cohort.webhook(telefone, token)
    for attempt in range(WEBHOOK_TRIES):
        sent_one = time.time()
        try:
            reply = await http.post("/webhooks/evolution", json=body, headers={"apikey": KEY})
            reason = None if reply.status_code == 200 else f"HTTP {reply.status_code}"
        except httpx2.HTTPError as exc:
            reason = type(exc).__name__
        if reason is None:
            accepted_one = time.time()
            seen.webhook_ms.append((accepted_one - sent_one) * 1000)
            seen.accepted_at[token] = accepted_one
            return token
        seen.webhook_errors[reason] += 1
        await asyncio.sleep(min(2.0**attempt, 10.0))
    seen.refused += 1
    return None


async def _converse(
    scenario: Scenario,
    http: httpx2.AsyncClient,
    telefone: str,
    seen: Observed,
    when: float,
    rng: random.Random,
) -> None:
    """Send, wait for Júlia's reply, think, send again: `rounds` times."""
    for _ in range(scenario.rounds):
        token = await _message(http, telefone, seen, when)
        if token is None:
            return
        pending_reply = seen.waiting.setdefault(token, asyncio.get_running_loop().create_future())
        try:
            answered_at = await asyncio.wait_for(asyncio.shield(pending_reply), scenario.drain_s)
        except TimeoutError:
            return
        when = answered_at + rng.expovariate(1.0 / scenario.think_s)


async def _drain(seen: Observed, limit_s: float) -> None:
    end = time.monotonic() + limit_s
    # Polled at the reader's pace: "every accepted message answered" changes with both dictionaries.
    while time.monotonic() < end and any(t not in seen.replies for t in seen.accepted_at):  # noqa: ASYNC110
        await asyncio.sleep(READ_S)


async def _read_sent(fakes: control.Fakes, seen: Observed, end: asyncio.Event) -> None:
    """Follow the fake Evolution's record: each accepted send is matched to its message's token."""
    read_now = 0
    while True:
        stop = end.is_set()
        try:
            new = await fakes.enviadas(read_now)
        except httpx.HTTPError as exc:  # the fake is busy: read again next time, nothing is lost
            log.warning("reading the fake Evolution's sends failed: %s", type(exc).__name__)
            new = []
        read_now += len(new)
        for sent_message in new:
            if sent_message["status"] != 201:
                continue
            seen.numbers.add(sent_message["numero"])
            token = cohort.token_of_reply(sent_message["texto"])
            if token is None:
                seen.other_sent += 1
                continue
            seen.replies[token].append(sent_message["recebido_em"])
            pending_reply = seen.waiting.setdefault(token, asyncio.get_running_loop().create_future())
            if not pending_reply.done():
                pending_reply.set_result(sent_message["recebido_em"])
        if stop:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(end.wait(), READ_S)


def _read_memory(all_processes: list[processes.Process], postmaster: int | None) -> dict[str, memory.Reading]:
    """Each julia process's memory (the uvicorn workers under `julia serve --workers N` as serve.1, ...),
    and Postgres's as "postgres" (the PSS of all its processes, in `pss`)."""
    read_now = {}
    for p in all_processes:
        for name, pid in [
            (p.name, p.pid),
            *((f"{p.name}.{i}", f) for i, f in enumerate(memory.children(p.pid), 1)),
        ]:
            reading = memory.read(pid)
            if reading is not None:
                read_now[name] = reading
    pss = memory.tree_pss(postmaster) if postmaster else None
    if pss is not None:
        read_now[POSTGRES] = memory.Reading(pss, pss, pss)
    return read_now


async def _samples(
    conn: asyncpg.Connection,
    fakes: control.Fakes,
    redis_url: str,
    seen: Observed,
    all_processes: list[processes.Process],
    others: dict[str, int | None],
    start_at: float,
    end: asyncio.Event,
) -> None:
    """Once a second: queue depth and age (the same counts the health check reads), Claude calls in
    flight, CPU and memory of each process, Postgres's and Redis's memory."""
    async with aioredis.Redis.from_url(redis_url) as redis:
        previous, before = _cpu(all_processes, others), time.monotonic()
        while not end.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(end.wait(), SAMPLE_S)
            op = await contar_operacao(conn)
            cpu, now = _cpu(all_processes, others), time.monotonic()
            elapsed = now - before
            try:
                counters = (await fakes.estado())["contadores"]
            except httpx.HTTPError as exc:
                log.warning("sample without the fake's counters: %s", type(exc).__name__)
                counters = {"claude_em_voo": None}
            # In a thread: reading smaps of 20-odd processes takes tens of ms, mostly in the kernel (the GIL
            # released), which the driver's loop must not spend late on its sends.
            read_now = await asyncio.to_thread(_read_memory, all_processes, others[POSTGRES])
            seen.uss_seen.append((time.time(), {n: m.uss for n, m in read_now.items() if n != POSTGRES}))
            redis_mem = await redis.info("memory")
            # The work each process has done so far: messages accepted for serve, answered for a worker (which
            # keeps working through the backlog after the last arrival).
            done, answered = len(seen.accepted_at), len(seen.replies)
            for name, reading in read_now.items():
                if name != POSTGRES:
                    seen.memory_points[name].append(
                        (answered if name.startswith("worker") else done, reading)
                    )
            if POSTGRES in read_now:
                seen.servers_seen[POSTGRES].append(read_now[POSTGRES].pss)
            seen.servers_seen["redis"].append(int(redis_mem["used_memory_rss"]))
            seen.servers_seen["redis_dados"].append(int(redis_mem["used_memory"]))
            seen.samples.append(
                {
                    "t": round(time.time() - start_at, 2),
                    "entradas_abertas": op.entradas_abertas,
                    "entrada_mais_antiga_s": round(op.entrada_mais_antiga_s, 2),
                    "fila_vencida": op.fila_vencida,
                    "fila_mais_antiga_s": round(op.fila_mais_antiga_s, 2),
                    "claude_em_voo": counters["claude_em_voo"],
                    "cpu_pct": {
                        name: round(100 * ((cpu[name] or 0.0) - (previous[name] or 0.0)) / elapsed, 1)
                        for name in cpu
                    },
                    "aceitas": done,
                    "respondidas": answered,
                    # USS of julia's processes, PSS of Postgres's, Redis's own RSS: MiB.
                    "memoria_mib": {
                        **{n: round(m.uss / memory.MIB, 1) for n, m in read_now.items() if n != POSTGRES},
                        **{
                            n: round(v[-1] / memory.MIB, 1)
                            for n, v in seen.servers_seen.items()
                            if n != "redis_dados"
                        },
                    },
                }
            )
            previous, before = cpu, now


def _result(
    scenario: Scenario,
    seen: Observed,
    start_at: float,
    last: float,
    drained: float,
    cpu_before: dict[str, float | None],
    cpu_after: dict[str, float | None],
    counters: dict[str, int],
    slack: list[str],
    load_before: str,
    folder: Path,
) -> dict[str, Any]:
    answered = {t: sorted(v) for t, v in seen.replies.items() if t in seen.accepted_at}
    ttr = [v[0] - seen.accepted_at[t] for t, v in answered.items()]
    # With no worker nothing is answered: what ingestion loses is `nao_gravadas`.
    unanswered = [t for t in seen.accepted_at if t not in answered] if scenario.workers else []
    answered_twice = [t for t, v in answered.items() if len(v) > 1]
    cpu = {
        name: round((cpu_after[name] or 0.0) - (cpu_before[name] or 0.0), 2)
        for name in cpu_after
        if cpu_after[name] is not None and cpu_before.get(name) is not None
    }
    julia_s = sum(v for k, v in cpu.items() if k not in (POSTGRES, FAKES, DRIVER))
    # Per reply; with no worker (ingestion), per accepted webhook.
    n = max(1, len(answered) if scenario.workers else len(seen.accepted_at))
    return {
        "cenario": scenario.published(),
        "mensagens": len(seen.accepted_at),
        "respondidas": len(answered),
        "sem_resposta": len(unanswered),  # by the end of the drain window: lost or too late
        "recusadas": seen.refused,
        "nao_gravadas": seen.not_stored,
        "duplicadas": len(answered_twice),
        "outras_enviadas": seen.other_sent,
        "a_quem_saiu": seen.to_opted_out,
        "campanha_enfileirada": seen.campanha_queued,
        "tempo_resposta_s": summary(ttr),
        # Every one, for the perf engine's benchmark of the storm (julia.testing.capacity.benches).
        "tempo_resposta_amostras_s": [round(t, 4) for t in sorted(ttr)],
        # What time-to-reply is judged against: this run's own draw (a p99 of a few hundred lognormal
        # draws moves by seconds from run to run), not the configured p99.
        "claude_latencia_s": summary(seen.claude_s),
        "webhook_ms": summary(seen.webhook_ms),
        # Every one, for the benchmark of a storm with no worker (nothing answered: the webhook is its time).
        "webhook_samples_ms": [round(ms, 2) for ms in sorted(seen.webhook_ms)]
        if not scenario.workers
        else [],
        "webhook_erros": dict(seen.webhook_errors),
        "atraso_envio_ms": summary(seen.lateness_ms),
        "etapas_ms": {name: summary(values) for name, values in seen.stages_ms.items()},
        "respostas_por_s": per_second([v[0] for v in answered.values()], start_at),
        "aceitas_por_s": per_second(list(seen.accepted_at.values()), start_at),
        "pico": {
            "entradas_abertas": max((a["entradas_abertas"] for a in seen.samples), default=0),
            "entrada_mais_antiga_s": max((a["entrada_mais_antiga_s"] for a in seen.samples), default=0.0),
            "fila_vencida": max((a["fila_vencida"] for a in seen.samples), default=0),
            "claude_em_voo": counters["claude_pico_em_voo"],
        },
        "claude": {k: v for k, v in counters.items() if k.startswith("claude")},
        "tentativas": seen.tries,
        "cpu_s": cpu,
        "cpu_ms_por_resposta": {
            "julia": round(1000 * julia_s / n, 2),
            **{name: round(1000 * v / n, 2) for name, v in cpu.items()},
        },
        "duracao_s": {
            "chegadas": round(last - start_at, 1),
            "ate_drenar": round(drained - start_at, 1),
        },
        # Per julia process: peak RSS and USS, USS growth per 1,000 messages accepted
        # (julia.perf.engine.memory); the servers' peak beside them.
        "memoria": {name: memory.profile(points) for name, points in sorted(seen.memory_points.items())},
        "memoria_servidores_mib": {
            name: {"primeira": round(v[0] / memory.MIB, 1), "pico": round(max(v) / memory.MIB, 1)}
            for name, v in seen.servers_seen.items()
            if v
        },
        # julia's memory held per reply in flight, read as the floor's is (memory.held_per_unit says why
        # this measure); with no worker nothing is in flight to a reply.
        "memoria_por_resposta": memory.held_per_unit(
            seen.uss_seen, seen.idle_uss, list(seen.accepted_at.values()), [v[0] for v in answered.values()]
        )
        if scenario.workers
        else None,
        "gc_pausas": seen.gc_record,
        "slack": slack[:20],
        "carga_maquina": {"antes": load_before, "depois": _machine_load()},
        "amostras": seen.samples,
        "logs": str(folder),
    }
