"""Inbound attempts: a hard cap whatever brings a row back, never a second attempt of a row this worker
still runs, a heartbeat that keeps a slow attempt's lease, a deadline that ends a hung one."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx

from julia.services.queues import INBOUND_TRIES as MAX_TENTATIVAS
from julia.worker.context import WorkerContext
from julia.worker.loop import Worker
from tests.service.conftest import Externals, claude_reply, drain, post, upsert

EXPIRE = "UPDATE entradas SET locked_until = now() - interval '1 second' WHERE status = 'processando'"
IN_PROGRESS = "SELECT count(*) = 1 FROM entradas WHERE status = 'processando'"


async def test_lease_expired_beyond_the_limit_becomes_error(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    """Attempts that never report (each worker killed mid-call) stop at the cap, kept as 'erro'."""
    await post(cliente, upsert())
    for attempt in range(1, MAX_TENTATIVAS + 1):
        [claimed] = await worker.claim_inbound(10)
        assert claimed.tentativas == attempt
        await pool.execute(EXPIRE)
    assert await worker.claim_inbound(10) == []
    linha = await pool.fetchrow("SELECT status, tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["status"], linha["tentativas"]) == ("erro", MAX_TENTATIVAS)
    assert linha["last_error"].startswith(f"gave up after {MAX_TENTATIVAS} tries")
    assert externals.claude.call_count == 0
    # The doctor's next message is answered: the failed row no longer holds the doctor's queue.
    await post(cliente, upsert("De novo?", msg_id="B"))
    await drain(worker, pool)
    assert externals.sent_texts() == [("5511999990000", "Resposta a: De novo?")]


async def test_row_in_progress_in_this_worker_is_not_claimed(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker
) -> None:
    await post(cliente, upsert())
    [linha] = await worker.claim_inbound(10)
    in_progress = asyncio.get_running_loop().create_future()
    worker._inbound_in_progress[linha.id] = in_progress  # type: ignore[assignment]
    await pool.execute(EXPIRE)  # e.g. Postgres was down and the heartbeat could not renew it
    assert await worker.claim_inbound(10) == []
    del worker._inbound_in_progress[linha.id]
    [again] = await worker.claim_inbound(10)
    assert again.tentativas == 2
    in_progress.cancel()


async def _run(worker: Worker, pool: asyncpg.Pool, condition: str, limit_s: float = 15.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(limit_s):
            while not await pool.fetchval(condition):  # noqa: ASYNC110 - Postgres rows, polled
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def test_claude_slower_than_the_lease_replies_once(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, backing_servers: WorkerContext, externals: Externals
) -> None:
    """A 1 s lease and a 2.5 s Claude: the heartbeat keeps the row, a second worker claims nothing."""
    backing_servers.settings.queue_lease_s = 1
    other_one = Worker(backing_servers, interval_s=0.02)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2.5)
        return claude_reply("Devagar e sempre")

    externals.claude.mock(side_effect=slow)
    await post(cliente, upsert())

    async def concurrent() -> None:
        while not await pool.fetchval(IN_PROGRESS):  # noqa: ASYNC110 - Postgres rows, polled
            await asyncio.sleep(0.01)  # the first worker claims it first
        while True:
            assert await other_one.claim_inbound(10) == []
            await asyncio.sleep(0.1)

    watchman = asyncio.create_task(concurrent())
    await _run(
        Worker(backing_servers, interval_s=0.02),
        pool,
        "SELECT count(*) = 1 FROM fila_mensagens WHERE status = 'enviada'",
    )
    assert not watchman.done()  # the other worker never got the row
    watchman.cancel()
    assert externals.claude.call_count == 1
    assert await pool.fetchval("SELECT tentativas FROM entradas") == 1
    assert externals.sent_texts() == [("5511999990000", "Devagar e sempre")]


async def test_hanging_claude_ends_in_error_on_time(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, backing_servers: WorkerContext, externals: Externals
) -> None:
    """A call that never answers (no SDK timeout fires) ends at the attempt's deadline, then at the cap."""

    async def hanging(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    externals.claude.mock(side_effect=hanging)
    await post(cliente, upsert())
    worker = Worker(backing_servers, interval_s=0.02, backoff_inbound_s=0.01, attempt_deadline_s=0.3)
    await _run(worker, pool, "SELECT count(*) = 1 FROM entradas WHERE status = 'erro'")
    linha = await pool.fetchrow("SELECT tentativas, last_error FROM entradas")
    assert linha is not None
    assert (linha["tentativas"], linha["last_error"]) == (
        MAX_TENTATIVAS,
        "attempt exceeded its deadline of 0.3 s",
    )
    assert externals.envio.call_count == 0
