"""An open-loop HTTP/1.1 POST generator: request i is due at start + i / rate, whether or not the earlier
ones were answered, and its latency counts from that instant (as wrk2's does), so a server that falls
behind shows its queue in the latency instead of slowing the arrivals (closed-loop wrk's coordinated
omission).

Built for one job, to cost its process little: fixed keep-alive connections opened before the start,
each request's bytes made by one replace in a body read once, the response read by its status line and
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
    def __init__(self, gerador: _Gerador) -> None:
        self.gerador = gerador
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
    def __init__(self, pedido: Pedido, total: int) -> None:
        self.pedido = pedido
        self.total = total
        self.medido = Medido()
        self.todas: list[_Conexao] = []
        self.livres: list[_Conexao] = []
        self.fila: deque[tuple[bytes, float]] = deque()
        self.pendentes = 0
        self.fim = asyncio.get_running_loop().create_future()
        self.relogio = asyncio.get_running_loop().time
        self.inicio = self.relogio() + 0.05

    def despachar(self, dados: bytes, devida: float) -> None:
        if self.livres:
            self.medido.atraso_ms.append(1000 * (self.relogio() - devida))
            self.livres.pop().enviar(dados, devida)
        else:
            self.fila.append((dados, devida))

    def respondida(self, conexao: _Conexao, status: int) -> None:
        self.medido.status[status] += 1
        if 200 <= status < 300:
            self.medido.latencia_ms.append(1000 * (self.relogio() - conexao.devida))
            self.medido.devidas_s.append(conexao.devida - self.inicio)
        self._concluida()
        if self.fila:
            dados, devida = self.fila.popleft()
            self.medido.atraso_ms.append(1000 * (self.relogio() - devida))
            conexao.enviar(dados, devida)
        else:
            self.livres.append(conexao)

    def perdida(self, conexao: _Conexao) -> None:
        if conexao in self.livres:
            self.livres.remove(conexao)
        elif not self.fim.done():  # it held a request that will never be answered
            self.medido.conexoes_perdidas += 1
            self._concluida()

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
    g = _Gerador(pedido, total)
    for _ in range(conexoes):
        _, conexao = await loop.create_connection(lambda: _Conexao(g), host, porta)
        g.todas.append(conexao)
        g.livres.append(conexao)
    # The collector's pauses would be this process's, counted as julia's latency: none during the run.
    gc.collect()
    gc.disable()
    try:
        cpu = time.process_time()
        inicio = g.inicio
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
        gc.enable()
        for conexao in g.todas:
            if conexao.transporte is not None:
                conexao.transporte.close()
    return g.medido
