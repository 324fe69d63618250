"""Turns: how two sides of a same-run A/B comparison take the machine in alternation.

Each side is its own pytest process (perf.toml's suite) (its own checkout, its own database and Redis db on
the same servers). Before every block of timed samples a side hands its turn back and asks for the
next; the coordinator grants a turn only when every live side is waiting, in a random order per round,
so the two sides' k-th blocks of a benchmark are measured next to each other and a neighbour's burst
or a slow minute hits both. Everything a side does happens inside one of its turns, so its untimed work
(seeding, EXPLAIN, counting on the servers) never lands in the other side's timed block nor in its
server counters.

Wire protocol, one line each over a loopback TCP connection (<variables>_TURNS=host:port, perf.toml):
    side -> "hello <side>"        once
    side -> "ready <label>"       then waits for
    coord -> "go <round>"         the side works (a block, and what follows it) until its next switch:
    side -> "done"                (sent together with its next "ready")
Protocol 2 adds, after a benchmark's fixed blocks (julia.perf.engine.extra):
    side -> "more <label> <round>:<median ms>,..."   every block it measured, then waits for
    coord -> "go <round>"         one more block of it, then "more" again; or
    coord -> "stop <round>"       a turn for what follows it, no more blocks
"go" comes only when both sides ask at the same benchmark and its verdict is still undecided; a
protocol-1 base never asks, so against it the head always hears "stop".
A side that closes its connection has finished; the other keeps taking turns alone.
Without that variable every turn is granted at once (a plain single-side run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from julia.perf.engine import extra
from julia.perf.engine.extra import ExtraBlocks

# The words of the variables a side is handed (perf.toml's [project] variables prefixes them).
TURNS = "TURNS"
SIDE = "SIDE"
PROTOCOL = 2  # what this side speaks; a base speaking any of COMPATIBLE is measured beside it
COMPATIBLE = (1, 2)  # julia.perf.engine.ab checks a base's turn module for one of these


class TurnTaking:
    """A side's end: `await turnos.switch(label)` before each block."""

    def __init__(self, reader: asyncio.StreamReader | None, writer: asyncio.StreamWriter | None) -> None:
        self._reader = reader
        self._writer = writer
        self._holding = False
        self.rounds: list[tuple[str, int]] = []  # (label, round) of every turn taken, for the record

    @classmethod
    async def from_env(cls, variables: str) -> TurnTaking:
        """`variables`: the project's prefix of the engine's variables (config.Project.variables)."""
        address = os.environ.get(f"{variables}_{TURNS}")
        if not address:
            return cls(None, None)
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"hello {os.environ.get(f'{variables}_{SIDE}', 'head')}\n".encode())
        await writer.drain()
        return cls(reader, writer)

    async def switch(self, label: str) -> int:
        """End the turn this side holds (if any), wait for its next one and return its round: blocks of
        the same benchmark measured in the same round on both sides are the pairs an A/B verdict
        compares. A side always works inside a turn once it has asked for its first: its untimed work
        (seeding, EXPLAIN, counting) never overlaps the other side's timed blocks either."""
        if self._writer is None or self._reader is None:
            self.rounds.append((label, len(self.rounds)))  # alone: every turn is a round of its own
            return len(self.rounds) - 1
        word, round_ = await self._ask(f"ready {label}")
        if word != "go":
            raise RuntimeError(f"the perf coordinator answered {word!r} to ready")
        self.rounds.append((label, round_))
        return round_

    async def more(self, label: str, medians: extra.Medians) -> int | None:
        """After a benchmark's fixed blocks: the round of one more block of it, or None (enough; the turn
        this side then holds is for what follows). Alone, never more: there is nothing to pair with."""
        if self._writer is None or self._reader is None:
            return None
        word, round_ = await self._ask(f"more {label} {extra.encode(medians)}")
        self.rounds.append((label if word == "go" else f"{label}:after", round_))
        return round_ if word == "go" else None

    async def _ask(self, request: str) -> tuple[str, int]:
        """End the turn held (if any), send `request` and wait for the next turn: its word and round."""
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            raise RuntimeError("no perf coordinator to ask")
        if self._holding:
            writer.write(b"done\n")
        writer.write(f"{request}\n".encode())
        await writer.drain()
        line = (await reader.readline()).decode().split()
        if len(line) != 2 or line[0] not in ("go", "stop"):
            raise RuntimeError(f"the perf coordinator went away (answered {line!r})")
        self._holding = True
        return line[0], int(line[1])

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()


@dataclass
class _Side:
    name: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    turn_over: asyncio.Event = field(default_factory=asyncio.Event)
    label: str = ""
    medians: list[tuple[int, float]] | None = None  # asking for more blocks of `label` (protocol 2)
    alive: bool = True


class Coordinator:
    """The coordinator's end: serves turns to `expected` sides until every one has closed."""

    def side_exited(self) -> None:
        """A side process ended (perhaps before it ever connected): stop waiting for it."""
        self._expected -= 1
        self._changed.set()

    def __init__(
        self,
        expected: int,
        *,
        seed: int | None = None,
        between_rounds: Callable[[], Awaitable[None]] | None = None,
        extra_blocks: ExtraBlocks | None = None,
    ) -> None:
        self._expected = expected
        self.extra_blocks = extra_blocks  # None: every "more" is answered "stop"
        self._between_rounds = between_rounds  # runs while every side waits: inside nobody's block
        self._random = random.Random(seed)
        self._sides: list[_Side] = []
        self._changed = asyncio.Event()
        self.log: list[tuple[int, str, str]] = []  # (round, side, label): the order turns were granted
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = (await reader.readline()).decode().split()
        side = _Side(hello[1] if len(hello) > 1 else f"side{len(self._sides)}", reader, writer)
        self._sides.append(side)
        self._changed.set()
        await self._listen(side)

    async def _listen(self, side: _Side) -> None:
        """Reads a side's `ready` lines; EOF marks it finished."""
        while True:
            line = (await side.reader.readline()).decode().split()
            if not line:
                side.alive = False
                side.writer.close()
                self._changed.set()
                return
            if line[0] in ("ready", "more"):
                side.label = line[1] if len(line) > 1 else ""
                side.medians = extra.decode(line[2] if len(line) > 2 else "") if line[0] == "more" else None
                side.waiting.set()
            elif line[0] == "done":
                side.turn_over.set()
            self._changed.set()

    async def _done(self, side: _Side) -> None:
        """Until the side says `done` (or goes away): its untimed work after that overlaps the other's."""
        while side.alive and not side.turn_over.is_set():
            self._changed.clear()
            await self._changed.wait()

    def _round(self, live: list[_Side], seen: dict[str, set[str]]) -> list[_Side]:
        """Who takes a turn this round, in what order. Normally every live side, shuffled. When their
        labels differ and one side waits at a benchmark another side has already measured (it fell
        behind: a benchmark only it runs, a failure that skipped some), only the sides behind go, alone,
        until all wait at the same benchmark again: pairs are only ever blocks of one benchmark measured
        in one round."""
        labels = {s.label for s in live}
        if len(labels) > 1:
            behind = [s for s in live if any(s.label in seen[o.name] for o in live if o is not s)]
            if behind and len(behind) < len(live):
                return behind
        return self._random.sample(live, len(live))

    def _more(self, sides: list[_Side]) -> bool:
        """Whether this round is one more block for both sides: only when a head and a base both ask at
        the same benchmark, and the policy (julia.perf.engine.extra) finds it undecided."""
        asking = {s.name: s for s in sides if s.medians is not None}
        head, base = asking.get("head"), asking.get("base")
        if self.extra_blocks is None or head is None or base is None or len(asking) != len(sides):
            return False
        if head.label != base.label or head.medians is None or base.medians is None:
            return False
        return self.extra_blocks.more(head.label, head.medians, base.medians)

    async def serve(self) -> None:
        """Grant turns round after round until all sides have finished."""
        round_ = 0
        seen: dict[str, set[str]] = {}
        while len(self._sides) < self._expected or any(s.alive for s in self._sides):
            live = [s for s in self._sides if s.alive]
            if len(self._sides) < self._expected or not live or not all(s.waiting.is_set() for s in live):
                self._changed.clear()
                await self._changed.wait()
                continue
            for side in live:
                seen.setdefault(side.name, set())
            if self._between_rounds is not None:
                await self._between_rounds()
            sides = self._round(live, seen)
            more = self._more(sides)
            started = time.monotonic()
            for side in sides:
                if not side.alive:
                    continue
                seen[side.name].add(side.label)
                side.waiting.clear()
                side.turn_over.clear()
                word = "go" if side.medians is None or more else "stop"
                self.log.append((round_, side.name, side.label if word == "go" else f"{side.label}:after"))
                try:
                    side.writer.write(f"{word} {round_}\n".encode())
                    await side.writer.drain()
                except ConnectionError:
                    side.alive = False
                    continue
                await self._done(side)
            if more and self.extra_blocks is not None:
                self.extra_blocks.spent_s += time.monotonic() - started
            round_ += 1
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
