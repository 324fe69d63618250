"""The turn protocol of a same-run A/B run (julia.perf.turnos), over real loopback sockets: two sides
never work at once, each round grants every waiting side once in a random order, and a side that finishes
(or never starts) does not stall the other."""

from __future__ import annotations

import asyncio

import pytest

from julia.perf import turnos
from julia.perf.turnos import Coordinator, Turnos


async def _side(
    name: str, address: str, blocks: int, busy: list[str], seen: list[tuple[str, int]]
) -> list[tuple[str, int]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(turnos.ENV, address)
        patch.setenv(turnos.SIDE_ENV, name)
        side = await Turnos.from_env()
    for k in range(blocks):
        await side.switch(f"bench:{k}")
        busy.append(name)
        assert busy == [name], f"{busy} working at once"
        seen.append((name, k))
        await asyncio.sleep(0.002)  # the block
        busy.remove(name)
    await side.close()
    return side.rounds


async def test_two_sides_alternate_and_never_overlap() -> None:
    coordinator = Coordinator(2, seed=7)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    busy: list[str] = []
    seen: list[tuple[str, int]] = []
    head, base = await asyncio.gather(
        _side("head", address, 12, busy, seen), _side("base", address, 12, busy, seen)
    )
    await asyncio.wait_for(serving, 5)
    # Round r holds block r of both sides: the k-th blocks were measured next to each other.
    assert [r for _, r in head] == list(range(12))
    assert [r for _, r in base] == list(range(12))
    firsts = [side for round_, side, _ in coordinator.log[::2]]
    assert {"head", "base"} == set(firsts)  # the order is randomized, not fixed
    assert len(coordinator.log) == 24


async def test_a_side_that_finishes_early_leaves_the_other_running() -> None:
    coordinator = Coordinator(2, seed=1)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    busy: list[str] = []
    seen: list[tuple[str, int]] = []
    await asyncio.gather(_side("head", address, 10, busy, seen), _side("base", address, 2, busy, seen))
    await asyncio.wait_for(serving, 5)
    assert sum(1 for name, _ in seen if name == "head") == 10


async def test_a_side_that_never_connects_is_not_waited_for() -> None:
    coordinator = Coordinator(2, seed=1)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    coordinator.side_exited()  # its process died before connecting
    await _side("head", address, 3, [], [])
    await asyncio.wait_for(serving, 5)


async def test_without_a_coordinator_every_turn_is_granted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(turnos.ENV, raising=False)
    side = await Turnos.from_env()
    await side.switch("anything")
    assert side.rounds == []
