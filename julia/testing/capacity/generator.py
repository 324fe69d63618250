"""An open-loop HTTP/1.1 POST generator: request i is due at start + i / rate, whether or not the earlier
ones were answered, and its latency counts from that instant (as wrk2's does), so a server that falls
behind shows its queue in the latency instead of slowing the arrivals (closed-loop wrk's coordinated
omission).

Built for one job, to cost its process little: keep-alive connections opened before the start and used in
turn (uvicorn closes a connection idle for 5 s, so a last-in-first-out pool shrank to the few in use and
capped the rate at their count over the latency: a run read a 13 s queue at 500/s with serve at 37% of
a core), one opened again for each the server closes, each request's bytes made by one replace in a body
read once, the response read by its status line and
Content-Length, on uvloop. A due request waits in a queue when every connection holds one (the server is
behind), and goes on the first connection freed. What it cost is reported beside what it measured: its
CPU (this process's, over the run) and how late each request left against its instant; a generator late
by more than a millisecond or two at p99, or near a whole core, has measured itself as well.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

Pedido = Callable[[int], bytes]  # request number -> the whole HTTP/1.1 request


@dataclass
class Medido:
    enviadas: int = 0
    latencia_ms: list[float] = field(default_factory=list)  # from each request's due instant, 2xx only
    devidas_s: list[float] = field(default_factory=list)  # their due instants, from the start
    atraso_ms: list[float] = field(default_factory=list)  # sent minus due, every request
    status: Counter[int] = field(default_factory=Counter)  # every response's status
    conexoes_perdidas: int = 0
    segundos: float = 0.0  # from the first due instant to the last response
    cpu_s: float = 0.0  # this process's CPU over the same span


class _Conexao(asyncio.Protocol):
    def __init__(self, generator: _Gerador) -> None:
        self.gerador = generator
        self.transporte: asyncio.Transport | None = None
        self.devida = 0.0
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transporte = cast(asyncio.Transport, transport)  # uvloop's does not subclass asyncio's

    def enviar(self, dados: bytes, devida: float) -> None:
        assert self.transporte is not None
        self.devida = devida
        self.transporte.write(dados)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        fim = self.buffer.find(b"\r\n\r\n")
        if fim < 0:
            return
        cabecalho = self.buffer[:fim].lower()
        inicio = cabecalho.find(b"content-length:")
        tamanho = int(cabecalho[inicio + 15 : cabecalho.find(b"\r\n", inicio)]) if inicio >= 0 else 0
        if len(self.buffer) < fim + 4 + tamanho:
            return
        self.buffer = self.buffer[fim + 4 + tamanho :]
        self.gerador.respondida(self, int(cabecalho[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.gerador.perdida(self)


class _Gerador:
    def __init__(self, host: str, porta: int, total: int) -> None:
        self.host, self.porta = host, porta
        self.total = total
        self.medido = Medido()
        self.todas: list[_Conexao] = []
        self.livres: deque[_Conexao] = deque()
        self.fila: deque[tuple[bytes, float]] = deque()
        self.pendentes = 0
        self.tarefas: set[asyncio.Future[None]] = set()  # connections being opened again
        self.fim = asyncio.get_running_loop().create_future()
        self.relogio = asyncio.get_running_loop().time
        self.inicio = 0.0  # the first request's due instant, set once the connections are open

    def despachar(self, dados: bytes, devida: float) -> None:
        if self.livres:
            self.medido.atraso_ms.append(1000 * (self.relogio() - devida))
            self.livres.popleft().enviar(dados, devida)
        else:
            self.fila.append((dados, devida))

    async def abrir(self) -> None:
        _, conexao = await asyncio.get_running_loop().create_connection(
            lambda: _Conexao(self), self.host, self.porta
        )
        self.todas.append(conexao)
        self.liberar(conexao)

    def liberar(self, conexao: _Conexao) -> None:
        if self.fila:
            dados, devida = self.fila.popleft()
            self.medido.atraso_ms.append(1000 * (self.relogio() - devida))
            conexao.enviar(dados, devida)
        else:
            self.livres.append(conexao)

    def respondida(self, conexao: _Conexao, status: int) -> None:
        self.medido.status[status] += 1
        if 200 <= status < 300:
            self.medido.latencia_ms.append(1000 * (self.relogio() - conexao.devida))
            self.medido.devidas_s.append(conexao.devida - self.inicio)
        self._concluida()
        self.liberar(conexao)

    def perdida(self, conexao: _Conexao) -> None:
        if self.fim.done():  # closed at the end
            return
        if conexao in self.livres:
            self.livres.remove(conexao)
        else:  # it held a request that will never be answered
            self.medido.conexoes_perdidas += 1
            self._concluida()
        self.tarefas.add(asyncio.ensure_future(self.abrir()))

    def _concluida(self) -> None:
        self.pendentes -= 1
        if self.pendentes == 0 and self.medido.enviadas == self.total and not self.fim.done():
            self.fim.set_result(None)


async def gerar(
    host: str, porta: int, pedido: Pedido, taxa: float, duracao_s: float, conexoes: int, espera_s: float
) -> Medido:
    """Post `taxa` requests a second for `duracao_s` seconds on `conexoes` connections, then wait up to
    `espera_s` for the last answers (unanswered by then: counted as lost connections)."""
    loop = asyncio.get_running_loop()
    total = round(taxa * duracao_s)
    g = _Gerador(host, porta, total)
    for _ in range(conexoes):
        await g.abrir()
    # The collector's pauses would be this process's, counted as julia's latency: none during the run.
    gc.collect()
    gc.disable()
    try:
        cpu = time.process_time()
        g.inicio = inicio = loop.time() + 0.05
        while g.medido.enviadas < total:
            devidas = min(total, int((loop.time() - inicio) * taxa) + 1)
            for i in range(g.medido.enviadas, devidas):
                g.pendentes += 1
                g.medido.enviadas += 1
                g.despachar(pedido(i), inicio + i / taxa)
            await asyncio.sleep(max(0.0, inicio + g.medido.enviadas / taxa - loop.time()))
        if g.pendentes:
            try:
                await asyncio.wait_for(asyncio.shield(g.fim), espera_s)
            except TimeoutError:
                g.medido.conexoes_perdidas += g.pendentes
                g.fim.set_result(None)  # the connections closed below are counted already
        g.medido.segundos = loop.time() - inicio
        g.medido.cpu_s = time.process_time() - cpu
    finally:
        if not g.fim.done():
            g.fim.set_result(None)  # the connections closed below are not lost ones
        gc.enable()
        for conexao in g.todas:
            if conexao.transporte is not None:
                conexao.transporte.close()
    return g.medido
