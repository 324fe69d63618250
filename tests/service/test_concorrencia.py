"""Many doctors at once: each one's messages answered in order, none twice, doctors in parallel."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import asyncpg
import httpx

from julia.worker.loop import Worker
from tests.service.conftest import Externos, postar, upsert

MEDICOS = 50
MENSAGENS = 3


async def test_50_medicos_ao_mesmo_tempo_respondidos_em_ordem(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, worker: Worker, externos: Externos
) -> None:
    parar = asyncio.Event()
    rodando = asyncio.create_task(worker.run(parar))

    async def medico(n: int) -> None:
        for m in range(MENSAGENS):
            resposta = await postar(
                cliente, upsert(f"medico {n} mensagem {m}", numero=f"55119{n:08d}", msg_id=f"M{n}-{m}")
            )
            assert resposta.status_code == 200

    await asyncio.gather(*(medico(n) for n in range(MEDICOS)))
    async with asyncio.timeout(60):
        while externos.envio.call_count < MEDICOS * MENSAGENS:  # noqa: ASYNC110 - respx offers no event
            await asyncio.sleep(0.05)
    parar.set()
    await rodando

    por_numero: dict[str, list[str]] = defaultdict(list)
    for numero, texto in externos.textos_enviados():
        por_numero[numero].append(texto)
    assert len(por_numero) == MEDICOS
    for n in range(MEDICOS):
        esperado = [f"Resposta a: medico {n} mensagem {m}" for m in range(MENSAGENS)]
        assert por_numero[f"55119{n:08d}"] == esperado
    assert (
        await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
        == MEDICOS * MENSAGENS
    )
    assert await pool.fetchval("SELECT count(*) FROM entradas WHERE status <> 'feita'") == 0
