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

from julia.integrations.http import cliente_http, nothing_left

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[str]:
    """A TCP server running `answer` per connection; every connection is closed on leaving."""
    connections: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.append((task, writer))
        await answer(reader, writer)

    srv = await asyncio.start_server(run, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/message/sendText/julia"
    finally:
        srv.close()
        for task, writer in connections:
            task.cancel()
            writer.close()
        await asyncio.gather(*(t for t, _ in connections), return_exceptions=True)
        await srv.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def _failure(url: str, *, wait_s: float = 5.0) -> httpx2.HTTPError:
    async with cliente_http() as http:
        with pytest.raises(httpx2.HTTPError) as info:
            await http.post(url, json={"number": "5511999990000", "text": "oi"}, timeout=wait_s)
    return info.value


async def test_closed_port_nothing_went() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert nothing_left(await _failure(f"http://127.0.0.1:{port}/x"))


async def test_connection_closed_after_the_request_may_have_gone() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    async with server(answer) as url:
        assert not nothing_left(await _failure(url))


async def test_a_reply_that_never_comes_may_have_gone() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with server(answer) as url:
        erro = await _failure(url, wait_s=0.3)
    assert isinstance(erro, httpx2.TimeoutException)
    assert not nothing_left(erro)


async def test_normal_reply() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.readexactly(len(b'{"number":"5511999990000","text":"oi"}'))
        corpo = b'{"key":{"id":"ABC"}}'
        header = f"HTTP/1.1 201 Created\r\ncontent-length: {len(corpo)}\r\n\r\n".encode()
        writer.write(header + corpo)
        await writer.drain()
        writer.close()

    async with server(answer) as url, cliente_http() as http:
        resposta = await http.post(url, json={"number": "5511999990000", "text": "oi"})
    assert resposta.status_code == 201
    assert resposta.json() == {"key": {"id": "ABC"}}
