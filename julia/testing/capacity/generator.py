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

Two things of uvloop's it keeps clear of. Its clock (`loop.time()`) is libuv's, in whole milliseconds:
each latency is read from `time.perf_counter()` instead. And its timers round a delay to the nearest
millisecond, so sleeping until the next request's instant, whenever that was under half a millisecond
away, was no sleep at all: the loop spun, and at 1,000 requests a second it took 70-82% of a core
(2026-12-07, py-spy: the sleep and uvloop's own loop), CPU the server under test on this 2-core box
did not get (7-10% since; docs/capacity.md, "Webhook ingestion, open-loop"). It wakes at most once a
millisecond (`TICK_S`) and sends all that are due; a request is then up to a tick late, which its latency
counts (from its instant) and "late" shows.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

Request = Callable[[int], bytes]  # request number -> the whole HTTP/1.1 request
TICK_S = 0.001  # the shortest sleep between two rounds of sends: uvloop's timer resolution


@dataclass
class Measured:
    sent: int = 0
    latency_ms: list[float] = field(default_factory=list)  # from each request's due instant, 2xx only
    due_s: list[float] = field(default_factory=list)  # their due instants, from the start
    lateness_ms: list[float] = field(default_factory=list)  # sent minus due, every request
    status: Counter[int] = field(default_factory=Counter)  # every response's status
    connections_lost: int = 0
    seconds: float = 0.0  # from the first due instant to the last response
    cpu_s: float = 0.0  # this process's CPU over the same span


class _Connection(asyncio.Protocol):
    def __init__(self, generator: _Generator) -> None:
        self.generator = generator
        self.transport_: asyncio.Transport | None = None
        self.due = 0.0
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport_ = cast(asyncio.Transport, transport)  # uvloop's does not subclass asyncio's

    def send(self, payload_bytes: bytes, due: float) -> None:
        assert self.transport_ is not None
        self.due = due
        self.transport_.write(payload_bytes)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        header = self.buffer[:end].lower()
        start_at = header.find(b"content-length:")
        size = int(header[start_at + 15 : header.find(b"\r\n", start_at)]) if start_at >= 0 else 0
        if len(self.buffer) < end + 4 + size:
            return
        self.buffer = self.buffer[end + 4 + size :]
        self.generator.answered_one(self, int(header[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self)


class _Generator:
    def __init__(self, host: str, port: int, total: int) -> None:
        self.host, self.port = host, port
        self.total = total
        self.measured = Measured()
        self.every: list[_Connection] = []
        self.free: deque[_Connection] = deque()
        self.queue: deque[tuple[bytes, float]] = deque()
        self.pending = 0
        self.tasks: set[asyncio.Future[None]] = set()  # connections being opened again
        self.end = asyncio.get_running_loop().create_future()
        self.clock = time.perf_counter
        self.start_at = 0.0  # the first request's due instant, set once the connections are open

    def dispatch(self, payload_bytes: bytes, due: float) -> None:
        if self.free:
            self.measured.lateness_ms.append(1000 * (self.clock() - due))
            self.free.popleft().send(payload_bytes, due)
        else:
            self.queue.append((payload_bytes, due))

    async def open(self) -> None:
        _, connection = await asyncio.get_running_loop().create_connection(
            lambda: _Connection(self), self.host, self.port
        )
        self.every.append(connection)
        self.release(connection)

    def release(self, connection: _Connection) -> None:
        if self.queue:
            payload_bytes, due = self.queue.popleft()
            self.measured.lateness_ms.append(1000 * (self.clock() - due))
            connection.send(payload_bytes, due)
        else:
            self.free.append(connection)

    def answered_one(self, connection: _Connection, status: int) -> None:
        self.measured.status[status] += 1
        if 200 <= status < 300:
            self.measured.latency_ms.append(1000 * (self.clock() - connection.due))
            self.measured.due_s.append(connection.due - self.start_at)
        self._done()
        self.release(connection)

    def lost(self, connection: _Connection) -> None:
        if self.end.done():  # closed at the end
            return
        if connection in self.free:
            self.free.remove(connection)
        else:  # it held a request that will never be answered
            self.measured.connections_lost += 1
            self._done()
        self.tasks.add(asyncio.ensure_future(self.open()))

    def _done(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.measured.sent == self.total and not self.end.done():
            self.end.set_result(None)


async def generate(
    host: str, port: int, request: Request, rate: float, duration_s: float, connections: int, wait_s: float
) -> Measured:
    """Post `rate` requests a second for `duration_s` seconds on `connections` connections, then wait up to
    `wait_s` for the last answers (unanswered by then: counted as lost connections)."""
    total = round(rate * duration_s)
    g = _Generator(host, port, total)
    for _ in range(connections):
        await g.open()
    # The collector's pauses would be this process's, counted as julia's latency: none during the run.
    gc.collect()
    gc.disable()
    try:
        cpu = time.process_time()
        g.start_at = start_at = g.clock() + 0.05
        while g.measured.sent < total:
            due_times = min(total, int((g.clock() - start_at) * rate) + 1)
            for i in range(g.measured.sent, due_times):
                g.pending += 1
                g.measured.sent += 1
                g.dispatch(request(i), start_at + i / rate)
            await asyncio.sleep(max(TICK_S, start_at + g.measured.sent / rate - g.clock()))
        if g.pending:
            try:
                await asyncio.wait_for(asyncio.shield(g.end), wait_s)
            except TimeoutError:
                g.measured.connections_lost += g.pending
                g.end.set_result(None)  # the connections closed below are counted already
        g.measured.seconds = g.clock() - start_at
        g.measured.cpu_s = time.process_time() - cpu
    finally:
        if not g.end.done():
            g.end.set_result(None)  # the connections closed below are not lost ones
        gc.enable()
        for connection in g.every:
            if connection.transport_ is not None:
                connection.transport_.close()
    return g.measured
