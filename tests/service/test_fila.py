"""The lease queues both job tables run on (julia/services/queues.py): the same claim, fencing and retry
behaviour over `entradas` and `fila_mensagens`, and the NOTIFY wake-up (julia/worker/despertador.py)
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
from julia.escuta import Escuta
from julia.services.queues import InboundQueue, Policy, Queue, Retry, SendQueue
from julia.worker.despertador import Despertador
from julia.worker.taxa import PRIORIDADE_RESPOSTA
from tests.service.conftest import postar, upsert
from tests.support.espera import ate

LEASE_S = 60.0
FILAS: dict[str, Callable[[], InboundQueue | SendQueue]] = {
    "entradas": lambda: InboundQueue(
        Policy(Retry(2, 5.0), Retry(2, 5.0)), reply_priority=PRIORIDADE_RESPOSTA
    ),
    "fila_mensagens": lambda: SendQueue(Policy(Retry(2, 5.0, ceiling_s=7.0), Retry(2, 5.0))),
}


async def _enfileirar(tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool, n: int = 1) -> None:
    """One due row in `tabela` (the webhook's own write for entradas; a queued message for the other)."""
    for i in range(n):
        await postar(cliente, upsert(f"Oi {i}", numero=f"55119999900{i:02d}", msg_id=f"3EB0FILA{i}"))
    if tabela == "fila_mensagens":
        await pool.execute(
            "INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade) "
            "SELECT cliente_id, conversa_id, 'Olá', 5 FROM entradas"
        )


async def _reivindicar(fila: InboundQueue | SendQueue, pool: asyncpg.Pool) -> list[Any]:
    if isinstance(fila, InboundQueue):
        return list(await fila.claim(pool, 10, LEASE_S, []))
    return list(await fila.claim(pool, 10, LEASE_S, 0))


@pytest.mark.parametrize("tabela", FILAS)
async def test_falha_adia_com_backoff_e_a_ultima_vira_erro(
    tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    fila = FILAS[tabela]()
    await _enfileirar(tabela, cliente, pool)
    [primeira] = await _reivindicar(fila, pool)
    assert primeira.tentativas == 1
    assert await _reivindicar(fila, pool) == []  # leased
    await fila.fail(pool, primeira, "timeout")
    linha = await pool.fetchrow(
        f"SELECT status, last_error, extract(epoch FROM agendar_para - now()) AS em FROM {tabela}"
    )
    assert linha is not None
    assert (linha["status"], linha["last_error"]) == ("pendente", "timeout")
    assert 4.0 < linha["em"] <= 5.0  # the first backoff
    await pool.execute(f"UPDATE {tabela} SET agendar_para = now()")
    [segunda] = await _reivindicar(fila, pool)
    assert segunda.tentativas == 2
    await fila.fail(pool, segunda, "timeout de novo")  # the last try
    assert tuple(await pool.fetchrow(f"SELECT status, last_error FROM {tabela}") or ()) == (
        "erro",
        "timeout de novo",
    )


@pytest.mark.parametrize("tabela", FILAS)
async def test_quem_perdeu_o_lease_nao_registra_nada(
    tabela: str, cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """`tentativas` fences: the attempt whose lease lapsed and was re-claimed changes nothing."""
    fila = FILAS[tabela]()
    await _enfileirar(tabela, cliente, pool)
    [velha] = await _reivindicar(fila, pool)
    await pool.execute(f"UPDATE {tabela} SET locked_until = now() - interval '1 second'")
    [nova] = await _reivindicar(fila, pool)
    assert nova.tentativas == velha.tentativas + 1
    await fila.fail(pool, velha, "tarde demais", permanent=True)
    await fila.retry_later(pool, velha, "tarde demais")
    assert tuple(await pool.fetchrow(f"SELECT status, tentativas FROM {tabela}") or ()) == ("processando", 2)


async def test_falha_definitiva_nao_espera_a_ultima_tentativa(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    fila = FILAS["fila_mensagens"]()
    await _enfileirar("fila_mensagens", cliente, pool)
    [linha] = await _reivindicar(fila, pool)
    await fila.fail(pool, linha, "400: not on WhatsApp", permanent=True)
    assert await pool.fetchval("SELECT status FROM fila_mensagens") == "erro"


async def test_o_batimento_mantem_o_lease_ate_perde_lo(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    fila = InboundQueue(Policy(Retry(2, 5.0), Retry(2, 5.0)), reply_priority=PRIORIDADE_RESPOSTA)
    await _enfileirar("entradas", cliente, pool)
    [linha] = await fila.claim(pool, 1, 0.3, [])
    batimento = asyncio.create_task(fila.keep_lease(pool, linha, 0.3))
    await asyncio.sleep(0.7)  # past two leases: renewed, so still this attempt's
    assert await fila.claim(pool, 1, 0.3, []) == []
    await pool.execute("UPDATE entradas SET tentativas = tentativas + 1")  # another worker took it
    await asyncio.wait_for(batimento, 2)  # the heartbeat notices and stops


@pytest.fixture
def filas() -> dict[str, Queue[Any]]:
    return {tabela: criar() for tabela, criar in FILAS.items()}


@pytest.fixture
async def despertador(
    services: servers.Servers, pool: asyncpg.Pool, filas: dict[str, Queue[Any]]
) -> AsyncIterator[Despertador]:
    escuta = Escuta(
        db.with_database(services.database_url, "julia_servico"),
        nome_sessao="julia-filas",
        descricao="queue wake-up",
        reconectar_s=0.3,
    )
    d = Despertador(escuta, list(filas.values()))
    async with escuta.rodando():
        await asyncio.wait_for(d.escuta.escutando.wait(), 10)
        yield d


async def _esperou(fila: Queue[Any], intervalo_s: float) -> float:
    inicio = time.monotonic()
    await fila.idle(asyncio.Event(), intervalo_s)
    return time.monotonic() - inicio


@pytest.mark.parametrize("tabela", FILAS)
async def test_um_insert_acorda_quem_espera(
    tabela: str,
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    filas: dict[str, Queue[Any]],
    despertador: Despertador,
) -> None:
    fila = filas[tabela]
    await fila.idle(asyncio.Event(), 0.01)  # the connection's own wake-up, consumed
    espera = asyncio.create_task(_esperou(fila, 30.0))
    await asyncio.sleep(0.1)
    await _enfileirar(tabela, cliente, pool)
    assert await asyncio.wait_for(espera, 5) < 5  # not the 30 s poll
    assert await _esperou(fila, 0.2) >= 0.2  # consumed: the next wait is a poll again


async def test_um_insert_que_nada_insere_nao_acorda(
    pool: asyncpg.Pool, filas: dict[str, Queue[Any]], despertador: Despertador
) -> None:
    """As registrar_entrada for a redelivered webhook (ON CONFLICT DO NOTHING): no row, no NOTIFY."""
    fila = filas["entradas"]
    await fila.idle(asyncio.Event(), 0.01)
    await pool.execute(
        "INSERT INTO entradas (interacao_id, cliente_id, conversa_id) "
        "SELECT interacao_id, cliente_id, conversa_id FROM entradas WHERE false"
    )
    assert await _esperou(fila, 0.5) >= 0.5


async def test_sem_ouvinte_a_espera_e_o_intervalo_e_o_ouvinte_volta(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, filas: dict[str, Queue[Any]], despertador: Despertador
) -> None:
    """The listening connection dropped (a Postgres restart): the poll still wakes the worker, and the
    listener reconnects and listens again."""
    fila = filas["entradas"]
    await fila.idle(asyncio.Event(), 0.01)
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", despertador.escuta.pid)
    assert 0.2 <= await _esperou(fila, 0.2) < 2  # woken by the poll or the reconnection, never stuck

    async def reconectou() -> bool:
        return despertador.escuta.conexoes == 2 and despertador.escuta.escutando.is_set()

    await ate(reconectou)
    await fila.idle(asyncio.Event(), 0.01)
    espera = asyncio.create_task(_esperou(fila, 30.0))
    await asyncio.sleep(0.1)
    await _enfileirar("entradas", cliente, pool)
    assert await asyncio.wait_for(espera, 5) < 5
