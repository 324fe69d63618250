"""Issue 34's "Must hold" against real `julia serve` + `julia worker` processes: an unauthenticated
100 MB body on any route is refused without being read (serve's memory stays flat); a loop of /metrics
scrapes leaves the webhooks answering; `julia serve` without DATABASE_URL exits 1 in one line. (The
flood from one number is tests/faults/test_flood.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.faults.conftest import Build
from tests.faults.system import Message, System, messages, verify
from tests.support.processes import JULIA

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024
METRICS_TOKEN = "metricas-falhas"


async def _body(read_ones: list[int]) -> AsyncIterator[bytes]:
    while read_ones[0] < HUNDRED_MB:
        read_ones[0] += CHUNK
        yield b"x" * CHUNK


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        linha = next(x for x in status if x.startswith("VmRSS:"))
    return int(linha.split()[1])


ROUTES = [
    ("POST", "/webhooks/evolution"),
    ("POST", "/webhooks/chatwoot"),
    ("POST", "/admin/vagas"),
    ("PATCH", "/admin/vagas/1"),
    ("PATCH", "/admin/medicos/1"),
    ("POST", "/admin/campanhas"),
    ("POST", "/metrics"),
    ("POST", "/nada"),
]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_hundred_mb_without_credentials_on_any_route_are_not_read(
    build: Build, declared: bool
) -> None:
    async with build(worker=False, ambiente={"ADMIN_TOKEN": "admin-falhas"}) as (system, _pool):
        assert system.serve is not None
        antes = _rss_kb(system.serve.pid)
        async with httpx.AsyncClient(base_url=system.url, timeout=30) as cliente:
            for method, caminho in ROUTES:
                read_ones = [0]
                headers = {"content-length": str(HUNDRED_MB)} if declared else {}
                try:
                    resposta = await cliente.request(
                        method, caminho, content=_body(read_ones), headers=headers
                    )
                    status: int | str = resposta.status_code
                except httpx.TransportError as exc:  # closed before the client finished writing
                    status = type(exc).__name__
                # What the client managed to write is at most what the sockets' buffers held.
                assert read_ones[0] < 16 * 1024 * 1024, (caminho, status, read_ones[0])
                assert status in (401, 404, 405, 413) or isinstance(status, str), (caminho, status)
        depois = _rss_kb(system.serve.pid)
        assert depois - antes < 30 * 1024, f"serve grew {depois - antes} kB"
        assert system.serve.poll() is None


async def test_a_scrape_loop_on_metrics_does_not_stop_the_webhooks(build: Build) -> None:
    msgs = messages(30, "scrape")
    async with (
        build(ambiente={"METRICS_TOKEN": METRICS_TOKEN}) as (system, pool),
        httpx.AsyncClient(timeout=10) as cliente,
    ):
        stop = asyncio.Event()
        scrapes = 0

        async def scrape() -> None:
            nonlocal scrapes
            auth = {"authorization": f"Bearer {METRICS_TOKEN}"}
            while not stop.is_set():
                resposta = await cliente.get(f"{system.url}/metrics", headers=auth)
                assert resposta.status_code == 200
                scrapes += 1

        scrapers = [asyncio.create_task(scrape()) for _ in range(8)]
        try:
            await asyncio.sleep(1)  # the scrapes are under way before the first webhook
            entregas = await asyncio.gather(*(_deliver_measuring(system, cliente, m) for m in msgs))
            balance = await verify(system, pool, msgs)  # the replies too, while the scrapes go on
        finally:
            stop.set()
            await asyncio.gather(*scrapers)
        assert all(accepted for accepted, _ in entregas)
        assert max(s for _, s in entregas) < 2.0, sorted(s for _, s in entregas)[-5:]
        assert balance.respondidas == len(msgs), balance
        assert scrapes > 50


async def _deliver_measuring(system: System, cliente: httpx.AsyncClient, msg: Message) -> tuple[bool, float]:
    inicio = time.monotonic()
    delivery = await system.deliver(cliente, msg)
    return delivery.accepted, time.monotonic() - inicio


def test_serve_without_database_url_exits_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [*JULIA, "serve"],
        env={**env, "EVOLUTION_API_KEY": "k", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "julia: missing required setting: DATABASE_URL (this command never starts servers of its own; "
        "`julia servers` or `julia dev` start throwaway ones)"
    ]
