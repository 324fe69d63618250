"""Many doctors at once: each one's messages answered in order, none twice, doctors in parallel."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import asyncpg
import httpx

from julia.worker.loop import Worker
from tests.service.conftest import Externals, post, upsert

MEDICOS = 50
MESSAGES = 3


async def test_50_medicos_at_once_answered_in_order(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externals: Externals
) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))

    async def medico(n: int) -> None:
        for m in range(MESSAGES):
            resposta = await post(
                cliente, upsert(f"medico {n} mensagem {m}", numero=f"55119{n:08d}", msg_id=f"M{n}-{m}")
            )
            assert resposta.status_code == 200

    await asyncio.gather(*(medico(n) for n in range(MEDICOS)))
    async with asyncio.timeout(60):
        while externals.envio.call_count < MEDICOS * MESSAGES:  # noqa: ASYNC110 - respx offers no event
            await asyncio.sleep(0.05)
    stop.set()
    await running

    by_number: dict[str, list[str]] = defaultdict(list)
    for numero, texto in externals.sent_texts():
        by_number[numero].append(texto)
    assert len(by_number) == MEDICOS
    for n in range(MEDICOS):
        expected = [f"Resposta a: medico {n} mensagem {m}" for m in range(MESSAGES)]
        assert by_number[f"55119{n:08d}"] == expected
    assert (
        await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
        == MEDICOS * MESSAGES
    )
    assert await pool.fetchval("SELECT count(*) FROM entradas WHERE status <> 'feita'") == 0
