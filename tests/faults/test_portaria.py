"""Issue 34's "Must hold" against real `julia serve` + `julia worker` processes: an unauthenticated
100 MB body on any route is refused without being read (serve's memory stays flat); a loop of /metrics
scrapes leaves the webhooks answering; `julia serve` without DATABASE_URL exits 1 in one line. (The
flood from one number is tests/faults/test_inundacao.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.faults.conftest import Montar
from tests.faults.sistema import Mensagem, Sistema, mensagens, verificar
from tests.support.processes import JULIA

CEM_MB = 100 * 1024 * 1024
PEDACO = 64 * 1024
TOKEN_METRICAS = "metricas-falhas"


async def _corpo(lidos: list[int]) -> AsyncIterator[bytes]:
    while lidos[0] < CEM_MB:
        lidos[0] += PEDACO
        yield b"x" * PEDACO


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        linha = next(x for x in status if x.startswith("VmRSS:"))
    return int(linha.split()[1])


ROTAS = [
    ("POST", "/webhooks/evolution"),
    ("POST", "/webhooks/chatwoot"),
    ("POST", "/admin/vagas"),
    ("PATCH", "/admin/vagas/1"),
    ("PATCH", "/admin/medicos/1"),
    ("POST", "/admin/campanhas"),
    ("POST", "/metrics"),
    ("POST", "/nada"),
]


@pytest.mark.parametrize("declarado", [True, False], ids=["content-length", "chunked"])
async def test_cem_mb_sem_credencial_em_toda_rota_nao_sao_lidos(montar: Montar, declarado: bool) -> None:
    async with montar(worker=False, ambiente={"ADMIN_TOKEN": "admin-falhas"}) as (sistema, _pool):
        assert sistema.serve is not None
        antes = _rss_kb(sistema.serve.pid)
        async with httpx.AsyncClient(base_url=sistema.url, timeout=30) as cliente:
            for metodo, caminho in ROTAS:
                lidos = [0]
                cabecalhos = {"content-length": str(CEM_MB)} if declarado else {}
                try:
                    resposta = await cliente.request(
                        metodo, caminho, content=_corpo(lidos), headers=cabecalhos
                    )
                    status: int | str = resposta.status_code
                except httpx.TransportError as exc:  # closed before the client finished writing
                    status = type(exc).__name__
                # What the client managed to write is at most what the sockets' buffers held.
                assert lidos[0] < 16 * 1024 * 1024, (caminho, status, lidos[0])
                assert status in (401, 404, 405, 413) or isinstance(status, str), (caminho, status)
        depois = _rss_kb(sistema.serve.pid)
        assert depois - antes < 30 * 1024, f"serve grew {depois - antes} kB"
        assert sistema.serve.poll() is None


async def test_um_loop_de_scrapes_no_metrics_nao_para_os_webhooks(montar: Montar) -> None:
    msgs = mensagens(30, "scrape")
    async with (
        montar(ambiente={"METRICS_TOKEN": TOKEN_METRICAS}) as (sistema, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        parar = asyncio.Event()
        scrapes = 0

        async def raspar() -> None:
            nonlocal scrapes
            auth = {"authorization": f"Bearer {TOKEN_METRICAS}"}
            while not parar.is_set():
                resposta = await cliente.get(f"{sistema.url}/metrics", headers=auth)
                assert resposta.status_code == 200
                scrapes += 1

        raspadores = [asyncio.create_task(raspar()) for _ in range(8)]
        try:
            await asyncio.sleep(1)  # the scrapes are under way before the first webhook
            entregas = await asyncio.gather(*(_entregar_medindo(sistema, cliente, m) for m in msgs))
            balanco = await verificar(sistema, pool, msgs)  # the replies too, while the scrapes go on
        finally:
            parar.set()
            await asyncio.gather(*raspadores)
        assert all(aceita for aceita, _ in entregas)
        assert max(s for _, s in entregas) < 2.0, sorted(s for _, s in entregas)[-5:]
        assert balanco.respondidas == len(msgs), balanco
        assert scrapes > 50


async def _entregar_medindo(
    sistema: Sistema, cliente: httpx.AsyncClient, msg: Mensagem
) -> tuple[bool, float]:
    inicio = time.monotonic()
    entrega = await sistema.entregar(cliente, msg)
    return entrega.aceita, time.monotonic() - inicio


def test_serve_sem_database_url_sai_em_uma_linha() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    feito = subprocess.run(
        [*JULIA, "serve"],
        env={**env, "EVOLUTION_API_KEY": "k", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert feito.returncode == 1
    assert feito.stderr.strip().splitlines() == [
        "julia: missing required setting: DATABASE_URL (this command never starts servers of its own; "
        "`julia servers` or `julia dev` start throwaway ones)"
    ]
