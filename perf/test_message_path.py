"""The full message path, one message at a time: Evolution's webhook in (POST /webhooks/evolution through
julia's real FastAPI app, in-process over httpx's ASGI transport) -> interaction and work row committed
-> the worker claims the row (`reivindicar_entradas`) and answers it (`reply.process`: static context
and shifts through the cache, history from Postgres, Claude) -> the reply stored and queued in
fila_mensagens. Claude is the only stand-in (julia.perf.service.claude_falso), at two latencies:

message_path_claude0ms     Claude answers at once: all of the time is julia, Postgres and Redis
message_path_claude800ms   a realistic reply time: what a doctor waits, julia's share on top of Claude's

The worker's idle poll (up to `interval_s`, 0.2 s) is left out: the benchmark claims as soon as the
webhook answered, so the time is what the code costs, not how often an idle worker looks. Messages rotate
over DOCTORS doctors whose cache entries the warm-up loaded: the steady state, every read a hit.

Each message is paired with `SELECT 1` on the perf connection (floor_pg_select1). Counted on the servers
(julia.perf.engine.counting, the mode over COUNTED messages, hard-gated in budgets.toml): Postgres statements,
pool resets (one per pool acquire) and Redis commands per message. Then, as many more messages traced by
tracemalloc (julia.perf.engine.allocations, untimed): the median bytes one message held at once above
what was live before it, and what it left behind; the gate fails a peak above the base's by more than
its tolerance.

`--inject-regression copy-context` makes every reply keep a copy of the context Claude is given (the
doctor, the claimed row, the turns and the prompt's text, as objects and as the JSON a debug log would
write) until Claude has answered: about 10% more bytes held per message, the regression the allocation
gate must fail (perf/allocations_accuracy.py, docs/performance.md).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import statistics
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from julia.cache import keys
from julia.integrations.claude import Turn
from julia.perf import service
from julia.perf.context import Perf
from julia.perf.engine import counting
from julia.perf.engine.results import Bench
from julia.testing.assembly import assembled
from julia.testing.claude import Transport
from julia.worker import dialogue, reply
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from julia.worker.tools import ToolContext

DOCTORS = 100
FAST_SAMPLES, FAST_WARMUP = 800, 2 * DOCTORS  # warm-up: every doctor's entries cached, twice over
SLOW_SAMPLES, SLOW_WARMUP = 12, 2
# Messages per turn: 32 and 6 block pairs in an A/B run (6 is the fewest that can conclude anything). With
# 16 the fast path's detectable effect was 1.196x in 12 A/A runs; 32 cost about 6 s more a side.
FAST_BLOCK, SLOW_BLOCK = 25, 2
SLOW_LATENCY_S = 0.8
COUNTED = 30


@dataclass
class Path:
    http: httpx.AsyncClient  # to the app, over ASGI
    worker: Worker
    backing_servers: WorkerContext
    claude: Transport
    doctors: list[tuple[int, str]]
    run_id: str
    perf: Perf

    async def message(self, i: int) -> None:
        """One doctor's message, from the webhook to the queued reply."""
        _, telefone = self.doctors[i % len(self.doctors)]
        corpo = service.upsert(telefone, f"PERF{self.run_id}{i}")
        answer = await self.http.post(
            "/webhooks/evolution", json=corpo, headers={"apikey": service.EVOLUTION_KEY}
        )
        if answer.status_code != 200 or answer.json().get("status") != "recebida":
            raise AssertionError(f"webhook answered {answer.status_code}: {answer.text}")
        tarefas = await self.worker.claim_inbound(1)
        if len(tarefas) != 1:
            raise AssertionError(f"the worker claimed {len(tarefas)} rows, expected this message's one")
        await reply.process(self.backing_servers, tarefas[0], self.worker.entradas)
        await self.perf.injected_query(self.backing_servers.pool)


Converse = Callable[[ToolContext, str, str, Sequence[Turn]], Awaitable[str]]


def _copying(converse: Converse) -> Converse:
    """The copy-context injection: `conversar` holding a copy of its context until Claude has answered."""

    async def kept(ctx: ToolContext, static: str, dynamic: str, turns: Sequence[Turn]) -> str:
        context = (ctx.medico, dataclasses.asdict(ctx.task), list(turns))
        duplicate = (
            copy.deepcopy(context),
            f"{static}{dynamic}".encode(),
            json.dumps({"contexto": context, "sistema": [static, dynamic]}, default=str),
        )
        texto = await converse(ctx, static, dynamic, turns)
        del duplicate
        return texto

    return kept


@pytest.fixture
async def path(perf: Perf, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    if perf.injected == "copy-context":
        monkeypatch.setattr(dialogue, "converse", _copying(dialogue.converse))
    settings = service.settings(perf.dsn, perf.services.redis_url)
    async with contextlib.AsyncExitStack() as cleanup:
        pool, redis = await service.connect(cleanup, perf, settings.db_pool_min, settings.db_pool_max)
        fake = service.fake_claude(0.0)
        julia = await cleanup.enter_async_context(assembled(settings, pool, redis, fake))
        yield Path(
            julia.http,
            Worker(julia.backing_servers),
            julia.backing_servers,
            fake,
            await service.doctors(conn, DOCTORS),
            uuid.uuid4().hex[:8].upper(),
            perf,
        )


async def test_message_path(perf: Perf, conn: asyncpg.Connection, path: Path) -> None:
    numbers = itertools.count()  # message ids stay unique across both variants
    if perf.allocations_only:
        bench = Bench("message_path_claude0ms", "message_path", "floor_pg_select1", [], {"doctors": DOCTORS})
        await perf.allocations_alone(
            bench, lambda i: path.message(next(numbers)), COUNTED, warmup=FAST_WARMUP
        )
        return
    for latency_s, samples, warmup, block in (
        (0.0, FAST_SAMPLES, FAST_WARMUP, FAST_BLOCK),
        (SLOW_LATENCY_S, SLOW_SAMPLES, SLOW_WARMUP, SLOW_BLOCK),
    ):
        path.claude.latency_s = latency_s
        queued = await _queued(conn)
        calls = path.claude.calls
        paired = await perf.measure_paired(
            lambda i: path.message(next(numbers)),
            lambda i: conn.fetchval("SELECT 1"),
            samples=samples,
            warmup=warmup,
            label=f"message_path_claude{round(latency_s * 1000)}ms",
            block=block,
        )
        sent = warmup + len(paired.samples_ms)
        counters: dict[str, object] = {"doctors": DOCTORS, "claude_latency_ms": round(latency_s * 1000)}
        profiled = None
        if latency_s == 0:  # the cost does not depend on Claude's latency: counted once, on the fast run
            # The timed blocks, interleaved with the other side's turns, can outlast the cache's lifetimes
            # (CACHE_TTL_VAGAS 60 s, CACHE_TTL_CONTEXTO 120 s): on a busy machine 27 of 30 counted
            # messages then missed, and the count read a statement and a Redis command more per message
            # than the steady state it stands for. So every entry is loaded anew (_refresh) before the
            # counting and again before the profile, after the slow allocation tracing: in 20 A/A runs
            # three still saw one side's entries expire (a pass that only read them left their old
            # lifetimes running), "-0.3 statement per message: carregar_contexto_estatico" in a count
            # and "+3 calls per message of static_context.<locals>.load" in a profile.
            sent += await _refresh(path, numbers)
            counters |= await _count(perf, path, numbers)
            allocated = await perf.allocated(lambda i: path.message(next(numbers)), COUNTED)
            counters |= allocated
            sent += COUNTED + (COUNTED if allocated else 0)
            sent += await _refresh(path, numbers)
            profiled = await perf.profile(
                lambda i: path.message(next(numbers)), unit_ms=statistics.median(paired.samples_ms)
            )
            sent += profiled["units"] * profiled["chunks"] if profiled else 0
        replies, claude_calls = await _queued(conn) - queued, path.claude.calls - calls
        if replies != sent or claude_calls != sent:
            raise AssertionError(f"{sent} messages, {replies} replies queued, {claude_calls} Claude calls")
        perf.run.add(
            paired.bench(
                f"message_path_claude{round(latency_s * 1000)}ms",
                "message_path",
                "floor_pg_select1",
                counters,
                profiled,
            )
        )


async def _refresh(path: Path, numbers: itertools.count[int]) -> int:
    """Every cache entry dropped, then one untimed message from every doctor, so each entry a message
    reads holds its whole lifetime from now (a hit does not extend one); the messages sent. SCAN, which
    the service never uses (julia/cache/keys.py says why), is fine on this side's own 100 doctors."""
    redis = path.backing_servers.redis
    cached = [key async for key in redis.scan_iter(match=f"{keys.PREFIX}:*", count=1000)]
    if cached:
        await redis.delete(*cached)
    for _ in range(DOCTORS):
        await path.message(next(numbers))
    return DOCTORS


async def _count(perf: Perf, path: Path, numbers: itertools.count[int]) -> dict[str, object]:
    meter_conn = await perf.connect()
    meter_redis = aioredis.Redis.from_url(perf.services.redis_url)
    meter = counting.Meter(meter_conn, meter_redis)
    try:
        costs = []
        for _ in range(COUNTED):
            costs.append(await meter.cost_of(path.message(next(numbers))))
    finally:
        await meter_conn.close()
        await meter_redis.aclose()
    return counting.typical(costs, unit="message")


async def _queued(conn: asyncpg.Connection) -> int:
    """Replies the fake Claude wrote that sit in the send queue."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM fila_mensagens WHERE conteudo LIKE $1", service.REPLY_PREFIX + "%"
    )
    return count
