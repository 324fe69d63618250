"""Faults injected while messages flow through real `julia serve` + `julia worker` processes. Each
scenario checks every message: stored, then exactly one reply or a visible error state ('erro', or
'incerto' held for a person); no number ever gets the same reply twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx

from tests.faults.conftest import Montar
from tests.faults.sistema import Entrega, Sistema, mensagens, verificar


async def test_entregas_duplicadas_e_simultaneas(montar: Montar) -> None:
    """Evolution delivering each webhook three times at once: one stored message, one reply each."""
    msgs = mensagens(30, "dup")
    async with montar() as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        entregas = await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs for _ in range(3)))
        assert all(e.aceita for e in entregas)
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.respondidas == len(msgs), balanco
        assert (await sistema.falsos.estado())["contadores"]["claude_pedidos"] == len(msgs)


async def test_worker_morto_no_meio_do_lote(montar: Montar) -> None:
    """SIGKILL with replies half sent (Claude 0.3 s, sendText 0.2 s): nothing lost, nothing sent twice."""
    msgs = mensagens(40, "kill")
    falsos = {
        "claude": {"latencia": {"mediana_ms": 300, "p99_ms": 600}},
        "evolution": {"latencia": {"mediana_ms": 200, "p99_ms": 400}},
    }
    async with montar(falsos=falsos) as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        entregas = await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs))
        assert all(e.aceita for e in entregas)
        fim = time.monotonic() + 60
        while len(await sistema.falsos.enviadas()) < 10:
            assert time.monotonic() < fim, "no sends before the kill"
            await asyncio.sleep(0.05)
        sistema.matar_worker()
        sistema.iniciar_worker()
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.erro == 0, balanco
        assert balanco.respondidas + balanco.incerto == len(msgs), balanco


async def test_postgres_parado_e_reiniciado(montar: Montar) -> None:
    """Postgres stopped for 4 s while webhooks arrive: every webhook during the outage gets 503 (never a
    2xx, never a 500), Evolution's retries bring them in afterwards, every message is answered once."""
    msgs = mensagens(30, "pg")
    # The subject is Postgres. On a loaded 2-core machine this test once ended with 29 answered and 1
    # 'incerto'; the likeliest way there is a sendText answered after the suite's 3 s timeout, which is
    # held 'incerto' by design (tested below, with a slow Evolution). Here Evolution gets a timeout the
    # fake's 200 ms cannot reach, so only Postgres's outage is judged.
    ambiente = {"EVOLUTION_TIMEOUT_S": "15"}
    async with montar(ambiente=ambiente) as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        antes = await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs[:10]))
        await sistema.parar_postgres()
        parado_em = time.monotonic()
        durante = [asyncio.create_task(sistema.entregar(cliente, m)) for m in msgs[10:]]
        await asyncio.sleep(4)
        voltou_em = time.monotonic()
        await sistema.iniciar_postgres()
        entregas: list[Entrega] = [*antes, *await asyncio.gather(*durante)]
        assert all(e.aceita for e in entregas)
        no_apagao = [s for e in entregas for t, s in e.tentativas if parado_em < t < voltou_em]
        assert no_apagao, "no webhook arrived during the outage"
        assert set(no_apagao) <= {503}, sorted(set(map(str, no_apagao)))
        await pool.expire_connections()
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.respondidas == len(msgs), balanco


async def test_redis_morto_e_reiniciado(montar: Montar) -> None:
    """Valkey SIGKILLed mid-load for 3 s (the cache, the rate limiter and the pause flag go with it)."""
    msgs = mensagens(30, "redis")
    falsos = {"claude": {"latencia": {"mediana_ms": 200, "p99_ms": 400}}}
    async with montar(falsos=falsos) as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        primeiras = asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs[:15]))
        await asyncio.sleep(0.5)
        await sistema.matar_redis()
        durante = await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs[15:]))
        await asyncio.sleep(3)
        await sistema.iniciar_redis()
        assert all(e.aceita for e in [*await primeiras, *durante])
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.respondidas == len(msgs), balanco


async def _alternar(sistema: Sistema, servico: str, modos: Sequence[str], fase_s: float) -> None:
    """Switch the fake's fault mode every `fase_s` while messages flow, then back to healthy."""
    for modo in modos:
        await sistema.falsos.configurar(servico, falha=modo, fracao_falha=0.5)
        await asyncio.sleep(fase_s)
    await sistema.falsos.configurar(servico, falha=None)


async def test_claude_falhando(montar: Montar) -> None:
    """Half of Claude's answers fail, 1.5 s of each fault in turn (429, 529, 500, hang past the SDK's
    2 s timeout) while messages arrive: one reply or 'erro' per message, never two."""
    msgs = mensagens(24, "claude")
    async with (
        montar(ambiente={"ANTHROPIC_TIMEOUT_S": "2"}) as (sistema, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        falhas = asyncio.create_task(_alternar(sistema, "claude", ["429", "529", "500", "hang"], 1.5))
        entregas = []
        for lote in range(4):  # a quarter of the messages in each phase
            entregas += await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs[lote::4]))
            await asyncio.sleep(1.5)
        await falhas
        assert all(e.aceita for e in entregas)
        balanco = await verificar(sistema, pool, msgs, prazo_s=120)
        assert balanco.incerto == 0, balanco
        assert balanco.respondidas + balanco.erro == len(msgs), balanco
        assert balanco.respondidas > 0, balanco


async def test_claude_mais_lento_que_o_lease(montar: Montar) -> None:
    """Every Claude call (2.5 s) outlives the 1 s lease: the heartbeat keeps each row with its attempt,
    so one Claude call and one reply per message (issue 11: 5 calls each, never answered)."""
    msgs = mensagens(10, "lento")
    falsos = {"claude": {"latencia": {"mediana_ms": 2500, "p99_ms": 2600}}}
    async with (
        montar(ambiente={"QUEUE_LEASE_S": "1"}, falsos=falsos) as (sistema, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        assert all(e.aceita for e in await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs)))
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.respondidas == len(msgs), balanco
        assert (await sistema.falsos.estado())["contadores"]["claude_pedidos"] == len(msgs)
        assert await pool.fetchval("SELECT max(tentativas) FROM entradas") == 1


async def test_evolution_falhando(montar: Montar) -> None:
    """Half of the sendText calls fail, 2 s of 500, 503 and 400 in turn: 5xx retried until sent, 400
    kept as 'erro' (the number is not on WhatsApp), nothing sent twice."""
    msgs = mensagens(24, "evo")
    async with montar() as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        falhas = asyncio.create_task(_alternar(sistema, "evolution", ["500", "503", "400"], 2.0))
        assert all(e.aceita for e in await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs)))
        await falhas
        balanco = await verificar(sistema, pool, msgs, prazo_s=120)
        assert balanco.incerto == 0, balanco
        assert balanco.respondidas + balanco.erro == len(msgs), balanco


async def test_evolution_lenta_mas_aceitando(montar: Montar) -> None:
    """Half of the sends are accepted but answered after 5 s (our timeout: 3 s): those are held as
    'incerto', sent exactly once, never again; the others are answered once (issue 11: all sent twice)."""
    msgs = mensagens(16, "lenta")
    falsos = {"evolution": {"falha": "lento", "fracao_falha": 0.5, "lento_ms": 5000}}
    async with montar(falsos=falsos) as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        assert all(e.aceita for e in await asyncio.gather(*(sistema.entregar(cliente, m) for m in msgs)))
        balanco = await verificar(sistema, pool, msgs)
        assert balanco.incerto > 0, balanco
        assert balanco.respondidas + balanco.incerto == len(msgs), balanco
        assert len(await sistema.falsos.enviadas()) == len(msgs)  # the fake saw each send once
