"""The lease queues both job tables run on (julia/services/queues.py): the same claim, fencing and retry
behaviour over `entradas` and `fila_mensagens`, and the NOTIFY wake-up (julia/worker/waker.py)
with polling as its fallback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from julia import db, servers
from julia.listening import Listening
from julia.services.queues import InboundQueue, Policy, Queue, Retry, SendQueue
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from julia.worker.rate import PRIORITY_REPLY
from julia.worker.waker import Waker
from tests.service.conftest import Externals, post, upsert
from tests.support.waiting import ate

LEASE_S = 60.0
QUEUES: dict[str, Callable[[], InboundQueue | SendQueue]] = {
    "entradas": lambda: InboundQueue(Policy(Retry(2, 5.0), Retry(2, 5.0)), reply_priority=PRIORITY_REPLY),
    "fila_mensagens": lambda: SendQueue(Policy(Retry(2, 5.0, ceiling_s=7.0), Retry(2, 5.0))),
}


async def _enqueue(tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool, n: int = 1) -> None:
    """One due row in `tabela` (the webhook's own write for entradas; a queued message for the other)."""
    for i in range(n):
        await post(cliente, upsert(f"Oi {i}", numero=f"55119999900{i:02d}", msg_id=f"3EB0FILA{i}"))
    if tabela == "fila_mensagens":
        await pool.execute(
            "INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade) "
            "SELECT cliente_id, conversa_id, 'Olá', 5 FROM entradas"
        )


async def _claim(queue: InboundQueue | SendQueue, pool: asyncpg.Pool) -> list[Any]:
    if isinstance(queue, InboundQueue):
        return list(await queue.claim(pool, 10, LEASE_S, []))
    return list(await queue.claim(pool, 10, LEASE_S, 0))


@pytest.mark.parametrize("tabela", QUEUES)
async def test_failure_postpones_with_backoff_and_the_last_becomes_error(
    tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    queue = QUEUES[tabela]()
    await _enqueue(tabela, cliente, pool)
    [first_one] = await _claim(queue, pool)
    assert first_one.tentativas == 1
    assert await _claim(queue, pool) == []  # leased
    await queue.fail(pool, first_one, "timeout")
    linha = await pool.fetchrow(
        f"SELECT status, last_error, extract(epoch FROM agendar_para - now()) AS em FROM {tabela}"
    )
    assert linha is not None
    assert (linha["status"], linha["last_error"]) == ("pendente", "timeout")
    assert 4.0 < linha["em"] <= 5.0  # the first backoff
    await pool.execute(f"UPDATE {tabela} SET agendar_para = now()")
    [second] = await _claim(queue, pool)
    assert second.tentativas == 2
    await queue.fail(pool, second, "timeout de novo")  # the last try
    assert tuple(await pool.fetchrow(f"SELECT status, last_error FROM {tabela}") or ()) == (
        "erro",
        "timeout de novo",
    )


@pytest.mark.parametrize("tabela", QUEUES)
async def test_who_lost_the_lease_records_nothing(
    tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """`tentativas` fences: the attempt whose lease lapsed and was re-claimed changes nothing."""
    queue = QUEUES[tabela]()
    await _enqueue(tabela, cliente, pool)
    [stale] = await _claim(queue, pool)
    await pool.execute(f"UPDATE {tabela} SET locked_until = now() - interval '1 second'")
    [nova] = await _claim(queue, pool)
    assert nova.tentativas == stale.tentativas + 1
    await queue.fail(pool, stale, "tarde demais", permanent=True)
    await queue.retry_later(pool, stale, "tarde demais")
    assert tuple(await pool.fetchrow(f"SELECT status, tentativas FROM {tabela}") or ()) == ("processando", 2)


async def test_permanent_failure_does_not_wait_for_the_last_attempt(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    queue = QUEUES["fila_mensagens"]()
    await _enqueue("fila_mensagens", cliente, pool)
    [linha] = await _claim(queue, pool)
    await queue.fail(pool, linha, "400: not on WhatsApp", permanent=True)
    assert await pool.fetchval("SELECT status FROM fila_mensagens") == "erro"


async def test_the_heartbeat_keeps_the_lease_until_it_loses_it(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    queue = InboundQueue(Policy(Retry(2, 5.0), Retry(2, 5.0)), reply_priority=PRIORITY_REPLY)
    await _enqueue("entradas", cliente, pool)
    [linha] = await queue.claim(pool, 1, 0.3, [])
    heartbeat = asyncio.create_task(queue.keep_lease(pool, linha, 0.3))
    await asyncio.sleep(0.7)  # past two leases: renewed, so still this attempt's
    assert await queue.claim(pool, 1, 0.3, []) == []
    await pool.execute("UPDATE entradas SET tentativas = tentativas + 1")  # another worker took it
    await asyncio.wait_for(heartbeat, 2)  # the heartbeat notices and stops


@pytest.fixture
def queues() -> dict[str, Queue[Any]]:
    return {tabela: create() for tabela, create in QUEUES.items()}


@pytest.fixture
async def waker(
    services: servers.Servers, pool: asyncpg.Pool, queues: dict[str, Queue[Any]]
) -> AsyncIterator[Waker]:
    listening = _listening(services)
    d = Waker(listening, list(queues.values()))
    async with listening.running():
        await asyncio.wait_for(d.listening.listening_now.wait(), 10)
        yield d


def _listening(services: servers.Servers) -> Listening:
    """The queues' wake-up listener on the service's database, reconnecting fast."""
    return Listening(
        db.with_database(services.database_url, "julia_servico"),
        session_name="julia-filas",
        description="queue wake-up",
        reconnect_s=0.3,
    )


async def _waited(queue: Queue[Any], interval_s: float) -> float:
    inicio = time.monotonic()
    await queue.idle(asyncio.Event(), interval_s)
    return time.monotonic() - inicio


@pytest.mark.parametrize("tabela", QUEUES)
async def test_an_insert_wakes_who_waits(
    tabela: str,
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    queues: dict[str, Queue[Any]],
    waker: Waker,
) -> None:
    queue = queues[tabela]
    await queue.idle(asyncio.Event(), 0.01)  # the connection's own wake-up, consumed
    wait = asyncio.create_task(_waited(queue, 30.0))
    await asyncio.sleep(0.1)
    await _enqueue(tabela, cliente, pool)
    assert await asyncio.wait_for(wait, 5) < 5  # not the 30 s poll
    assert await _waited(queue, 0.2) >= 0.2  # consumed: the next wait is a poll again


async def test_an_insert_that_inserts_nothing_does_not_wake(
    pool: asyncpg.Pool, queues: dict[str, Queue[Any]], waker: Waker
) -> None:
    """As registrar_entrada for a redelivered webhook (ON CONFLICT DO NOTHING): no row, no NOTIFY."""
    queue = queues["entradas"]
    await queue.idle(asyncio.Event(), 0.01)
    await pool.execute(
        "INSERT INTO entradas (interacao_id, cliente_id, conversa_id) "
        "SELECT interacao_id, cliente_id, conversa_id FROM entradas WHERE false"
    )
    assert await _waited(queue, 0.5) >= 0.5


async def test_without_listener_the_wait_is_the_interval_and_the_listener_returns(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, queues: dict[str, Queue[Any]], waker: Waker
) -> None:
    """The listening connection dropped (a Postgres restart): the poll still wakes the worker, and the
    listener reconnects and listens again."""
    queue = queues["entradas"]
    await queue.idle(asyncio.Event(), 0.01)
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", waker.listening.pid)
    assert 0.2 <= await _waited(queue, 0.2) < 2  # woken by the poll or the reconnection, never stuck

    async def reconnected() -> bool:
        return waker.listening.connections == 2 and waker.listening.listening_now.is_set()

    await ate(reconnected)
    await queue.idle(asyncio.Event(), 0.01)
    wait = asyncio.create_task(_waited(queue, 30.0))
    await asyncio.sleep(0.1)
    await _enqueue("entradas", cliente, pool)
    assert await asyncio.wait_for(wait, 5) < 5


async def test_the_loops_claim_once_per_wake_up_not_again_after_a_short_batch(
    services: servers.Servers,
    cliente: httpx.AsyncClient,
    backing_servers: WorkerContext,
    externals: Externals,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch shorter than the free slots is not followed by a second claim at once (it took every row
    claimable; a row inserted since notifies). The poll is 30 s here, so every claim counted is a
    wake-up's: the loop's start, the listener's connection, and per message the NOTIFY on each queue and,
    inbound, the reply's end (its doctor's next message becomes claimable then). Before: three inbound
    claims per message and two send claims."""
    listening = _listening(services)
    worker = Worker(backing_servers, interval_s=30.0, listening=listening)
    claims = {"entradas": 0, "fila_mensagens": 0}
    for queue in (worker.entradas, worker.sender.queue):
        monkeypatch.setattr(queue, "claim", _counted(queue.claim, claims, queue.table))
    messages = 3
    async with listening.running():
        await asyncio.wait_for(listening.listening_now.wait(), 10)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        for i in range(messages):
            await post(cliente, upsert(f"Oi {i}", numero="5511999990001", msg_id=f"3EB0WAKE{i}"))

            async def sent(i: int = i) -> bool:
                return externals.envio.call_count == i + 1

            await ate(sent)
        stop.set()
        await running
    assert claims["entradas"] <= 2 + 2 * messages
    assert claims["fila_mensagens"] <= 2 + messages


async def test_a_reply_ending_claims_its_doctor_s_next_message_without_waiting_for_the_poll(
    services: servers.Servers,
    cliente: httpx.AsyncClient,
    backing_servers: WorkerContext,
    externals: Externals,
) -> None:
    """Only a doctor's oldest open row is claimable: their second message waits behind the first, and the
    first's end is what makes it claimable (no NOTIFY says so). The poll is 30 s here."""
    listening = _listening(services)
    worker = Worker(backing_servers, interval_s=30.0, listening=listening)
    for i in range(2):
        await post(cliente, upsert(f"Oi {i}", numero="5511999990002", msg_id=f"3EB0NEXT{i}"))
    async with listening.running():
        await asyncio.wait_for(listening.listening_now.wait(), 10)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))

        async def both_sent() -> bool:
            return externals.envio.call_count == 2

        await ate(both_sent)
        stop.set()
        await running


def _counted(claim: Callable[..., Any], claims: dict[str, int], table: str) -> Callable[..., Any]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        claims[table] += 1
        return await claim(*args, **kwargs)

    return counted
