"""Faults injected while messages flow through real `julia serve` + `julia worker` processes. Each
scenario checks every message: stored, then exactly one reply or a visible error state ('erro', or
'incerto' held for a person); no number ever gets the same reply twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx

from tests.faults.conftest import Build
from tests.faults.system import Delivery, System, messages, verify


async def test_duplicate_and_simultaneous_deliveries(build: Build) -> None:
    """Evolution delivering each webhook three times at once: one stored message, one reply each."""
    msgs = messages(30, "dup")
    async with build() as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        entregas = await asyncio.gather(*(system.deliver(cliente, m) for m in msgs for _ in range(3)))
        assert all(e.accepted for e in entregas)
        balance = await verify(system, pool, msgs)
        assert balance.respondidas == len(msgs), balance
        assert (await system.fake_servers.estado())["contadores"]["claude_pedidos"] == len(msgs)


async def test_worker_killed_mid_batch(build: Build) -> None:
    """SIGKILL with replies half sent (Claude 0.3 s, sendText 0.2 s): nothing lost, nothing sent twice."""
    msgs = messages(40, "kill")
    fake_servers = {
        "claude": {"latencia": {"mediana_ms": 300, "p99_ms": 600}},
        "evolution": {"latencia": {"mediana_ms": 200, "p99_ms": 400}},
    }
    async with build(fake_servers=fake_servers) as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        entregas = await asyncio.gather(*(system.deliver(cliente, m) for m in msgs))
        assert all(e.accepted for e in entregas)
        end = time.monotonic() + 60
        while len(await system.fake_servers.enviadas()) < 10:
            assert time.monotonic() < end, "no sends before the kill"
            await asyncio.sleep(0.05)
        system.kill_worker()
        system.start_worker()
        balance = await verify(system, pool, msgs)
        assert balance.erro == 0, balance
        assert balance.respondidas + balance.uncertain_one == len(msgs), balance


async def test_postgres_stopped_and_restarted(build: Build) -> None:
    """Postgres stopped for 4 s while webhooks arrive: every webhook during the outage gets 503 (never a
    2xx, never a 500), Evolution's retries bring them in afterwards, every message is answered once."""
    msgs = messages(30, "pg")
    # The subject is Postgres. On a loaded 2-core machine this test once ended with 29 answered and 1
    # 'incerto'; the likeliest way there is a sendText answered after the suite's 3 s timeout, which is
    # held 'incerto' by design (tested below, with a slow Evolution). Here Evolution gets a timeout the
    # fake's 200 ms cannot reach, so only Postgres's outage is judged.
    ambiente = {"EVOLUTION_TIMEOUT_S": "15"}
    async with build(ambiente=ambiente) as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        antes = await asyncio.gather(*(system.deliver(cliente, m) for m in msgs[:10]))
        await system.stop_postgres()
        stopped_at = time.monotonic()
        durante = [asyncio.create_task(system.deliver(cliente, m)) for m in msgs[10:]]
        await asyncio.sleep(4)
        returned_at = time.monotonic()
        await system.start_postgres()
        entregas: list[Delivery] = [*antes, *await asyncio.gather(*durante)]
        assert all(e.accepted for e in entregas)
        in_blackout = [s for e in entregas for t, s in e.tentativas if stopped_at < t < returned_at]
        assert in_blackout, "no webhook arrived during the outage"
        assert set(in_blackout) <= {503}, sorted(set(map(str, in_blackout)))
        await pool.expire_connections()
        balance = await verify(system, pool, msgs)
        assert balance.respondidas == len(msgs), balance


async def test_redis_killed_and_restarted(build: Build) -> None:
    """Valkey SIGKILLed mid-load for 3 s (the cache, the rate limiter and the pause flag go with it)."""
    msgs = messages(30, "redis")
    fake_servers = {"claude": {"latencia": {"mediana_ms": 200, "p99_ms": 400}}}
    async with build(fake_servers=fake_servers) as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        first_ones = asyncio.gather(*(system.deliver(cliente, m) for m in msgs[:15]))
        await asyncio.sleep(0.5)
        await system.kill_redis()
        durante = await asyncio.gather(*(system.deliver(cliente, m) for m in msgs[15:]))
        await asyncio.sleep(3)
        await system.start_redis()
        assert all(e.accepted for e in [*await first_ones, *durante])
        balance = await verify(system, pool, msgs)
        assert balance.respondidas == len(msgs), balance


async def _alternate(system: System, servico: str, modes: Sequence[str], phase_s: float) -> None:
    """Switch the fake's fault mode every `phase_s` while messages flow, then back to healthy."""
    for mode in modes:
        await system.fake_servers.configure(servico, falha=mode, fracao_falha=0.5)
        await asyncio.sleep(phase_s)
    await system.fake_servers.configure(servico, falha=None)


async def test_claude_failing(build: Build) -> None:
    """Half of Claude's answers fail, 1.5 s of each fault in turn (429, 529, 500, hang past the SDK's
    2 s timeout) while messages arrive: one reply or 'erro' per message, never two."""
    msgs = messages(24, "claude")
    async with (
        build(ambiente={"ANTHROPIC_TIMEOUT_S": "2"}) as (system, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        falhas = asyncio.create_task(_alternate(system, "claude", ["429", "529", "500", "hang"], 1.5))
        entregas = []
        for batch in range(4):  # a quarter of the messages in each phase
            entregas += await asyncio.gather(*(system.deliver(cliente, m) for m in msgs[batch::4]))
            await asyncio.sleep(1.5)
        await falhas
        assert all(e.accepted for e in entregas)
        balance = await verify(system, pool, msgs, deadline_s=120)
        assert balance.uncertain_one == 0, balance
        assert balance.respondidas + balance.erro == len(msgs), balance
        assert balance.respondidas > 0, balance


async def test_claude_slower_than_the_lease(build: Build) -> None:
    """Every Claude call (2.5 s) outlives the 1 s lease: the heartbeat keeps each row with its attempt,
    so one Claude call and one reply per message (issue 11: 5 calls each, never answered)."""
    msgs = messages(10, "lento")
    fake_servers = {"claude": {"latencia": {"mediana_ms": 2500, "p99_ms": 2600}}}
    async with (
        build(ambiente={"QUEUE_LEASE_S": "1"}, fake_servers=fake_servers) as (system, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        assert all(e.accepted for e in await asyncio.gather(*(system.deliver(cliente, m) for m in msgs)))
        balance = await verify(system, pool, msgs)
        assert balance.respondidas == len(msgs), balance
        assert (await system.fake_servers.estado())["contadores"]["claude_pedidos"] == len(msgs)
        assert await pool.fetchval("SELECT max(tentativas) FROM entradas") == 1


async def test_evolution_failing(build: Build) -> None:
    """Half of the sendText calls fail, 2 s of 500, 503 and 400 in turn: 5xx retried until sent, 400
    kept as 'erro' (the number is not on WhatsApp), nothing sent twice."""
    msgs = messages(24, "evo")
    async with build() as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        falhas = asyncio.create_task(_alternate(system, "evolution", ["500", "503", "400"], 2.0))
        assert all(e.accepted for e in await asyncio.gather(*(system.deliver(cliente, m) for m in msgs)))
        await falhas
        balance = await verify(system, pool, msgs, deadline_s=120)
        assert balance.uncertain_one == 0, balance
        assert balance.respondidas + balance.erro == len(msgs), balance


async def test_evolution_slow_but_accepting(build: Build) -> None:
    """Half of the sends are accepted but answered after 5 s (our timeout: 3 s): those are held as
    'incerto', sent exactly once, never again; the others are answered once (issue 11: all sent twice)."""
    msgs = messages(16, "lenta")
    fake_servers = {"evolution": {"falha": "lento", "fracao_falha": 0.5, "lento_ms": 5000}}
    async with build(fake_servers=fake_servers) as (system, pool), httpx.AsyncClient(timeout=10) as cliente:
        assert all(e.accepted for e in await asyncio.gather(*(system.deliver(cliente, m) for m in msgs)))
        balance = await verify(system, pool, msgs)
        assert balance.uncertain_one > 0, balance
        assert balance.respondidas + balance.uncertain_one == len(msgs), balance
        assert len(await system.fake_servers.enviadas()) == len(msgs)  # the fake saw each send once
