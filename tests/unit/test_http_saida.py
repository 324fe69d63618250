"""julia's outbound client over real sockets: which failures may have delivered the request.

Evolution retries only what never left (julia/integrations/evolution.py); a wrong answer here sends a
doctor the same WhatsApp message twice."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx2
import pytest

from julia.integrations.http import cliente_http, nada_saiu

Atender = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def servidor(atender: Atender) -> AsyncIterator[str]:
    """A TCP server running `atender` per connection; every connection is closed on leaving."""
    conexoes: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []

    async def rodar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tarefa = asyncio.current_task()
        assert tarefa is not None
        conexoes.append((tarefa, writer))
        await atender(reader, writer)

    srv = await asyncio.start_server(rodar, "127.0.0.1", 0)
    porta = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{porta}/message/sendText/julia"
    finally:
        srv.close()
        for tarefa, writer in conexoes:
            tarefa.cancel()
            writer.close()
        await asyncio.gather(*(t for t, _ in conexoes), return_exceptions=True)
        await srv.wait_closed()


async def _ler_pedido(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def _falha(url: str, *, espera_s: float = 5.0) -> httpx2.HTTPError:
    async with cliente_http() as http:
        with pytest.raises(httpx2.HTTPError) as info:
            await http.post(url, json={"number": "5511999990000", "text": "oi"}, timeout=espera_s)
    return info.value


async def test_porta_fechada_nada_saiu() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        porta = s.getsockname()[1]
    assert nada_saiu(await _falha(f"http://127.0.0.1:{porta}/x"))


async def test_conexao_fechada_depois_do_pedido_pode_ter_saido() -> None:
    async def atender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _ler_pedido(reader)
        writer.close()

    async with servidor(atender) as url:
        assert not nada_saiu(await _falha(url))


async def test_resposta_que_nao_vem_pode_ter_saido() -> None:
    async def atender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _ler_pedido(reader)
        await asyncio.sleep(5)

    async with servidor(atender) as url:
        erro = await _falha(url, espera_s=0.3)
    assert isinstance(erro, httpx2.TimeoutException)
    assert not nada_saiu(erro)


async def test_resposta_normal() -> None:
    async def atender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _ler_pedido(reader)
        await reader.readexactly(len(b'{"number":"5511999990000","text":"oi"}'))
        corpo = b'{"key":{"id":"ABC"}}'
        cabecalho = f"HTTP/1.1 201 Created\r\ncontent-length: {len(corpo)}\r\n\r\n".encode()
        writer.write(cabecalho + corpo)
        await writer.drain()
        writer.close()

    async with servidor(atender) as url, cliente_http() as http:
        resposta = await http.post(url, json={"number": "5511999990000", "text": "oi"})
    assert resposta.status_code == 201
    assert resposta.json() == {"key": {"id": "ABC"}}
