"""Issue 34's "Must hold" against real `julia serve` + `julia worker` processes: a flood from one number
stays within its Claude budget and does not hold up other doctors; an unauthenticated 100 MB body on any
route is refused without being read (serve's memory stays flat); a loop of /metrics scrapes leaves the
webhooks answering; `julia serve` without DATABASE_URL exits 1 in one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.faults.conftest import Montar
from tests.faults.sistema import JULIA, Mensagem, Sistema, mensagens, verificar

POR_MINUTO = 10  # INBOUND_PER_MINUTE's default
CEM_MB = 100 * 1024 * 1024
PEDACO = 64 * 1024
TOKEN_METRICAS = "metricas-falhas"


async def _no_comeco_de_um_minuto() -> None:
    """The count is per calendar minute: a flood across a minute's edge may get twice the limit."""
    resto = 60 - time.time() % 60
    if resto < 25:
        await asyncio.sleep(resto + 0.1)


async def test_um_numero_inundando_fica_no_limite_e_os_outros_sao_respondidos(montar: Montar) -> None:
    """60 messages from one unknown number in a burst, beside 20 doctors writing once each: the flood gets
    POR_MINUTO Claude calls (every message stored), and every other doctor is answered once."""
    inundacao = [Mensagem("5511977770000", f"3EB0FLOOD{i}", f"mensagem {i}") for i in range(60)]
    outros = mensagens(20, "vizinho")
    async with montar() as (sistema, pool), httpx.AsyncClient(timeout=10) as cliente:
        await _no_comeco_de_um_minuto()
        inicio = time.monotonic()
        entregas = await asyncio.gather(*(sistema.entregar(cliente, m) for m in [*inundacao, *outros]))
        assert all(e.aceita for e in entregas)
        balanco = await verificar(sistema, pool, outros)
        assert balanco.respondidas == len(outros), balanco
        # The fakes answer at once: the other doctors waited on the flood's 10 calls at most, not its 60.
        assert time.monotonic() - inicio < 90
        estados = await pool.fetch(
            "SELECT e.status, count(*) FROM entradas e JOIN clientes c ON c.id = e.cliente_id"
            " WHERE c.telefone = '+5511977770000' GROUP BY e.status"
        )
        assert {r["status"]: r["count"] for r in estados} == {"feita": 60}  # all stored, none open
        # Claude's calls: one per answered message, POR_MINUTO of the flood's (a call retried after a
        # lease lost on a loaded machine may add one; the replies sent are the exact count).
        para_inundacao = [e for e in await sistema.falsos.enviadas() if e["numero"] == "5511977770000"]
        assert len(para_inundacao) == POR_MINUTO
        claude = (await sistema.falsos.estado())["contadores"]["claude_pedidos"]
        assert POR_MINUTO + len(outros) <= claude <= POR_MINUTO + len(outros) + 3


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
