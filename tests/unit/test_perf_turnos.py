"""The turn protocol of a same-run A/B run (julia.perf.engine.turnos), over real loopback sockets: two sides
never work at once, each round grants every waiting side once in a random order, and a side that finishes
(or never starts) does not stall the other."""

from __future__ import annotations

import asyncio

import pytest

from julia.perf.engine import turnos
from julia.perf.engine.turnos import Coordinator, Turnos


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
    assert [await side.switch("a"), await side.switch("b")] == [0, 1]


async def _labelled(name: str, address: str, labels: list[str]) -> list[tuple[str, int]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(turnos.ENV, address)
        patch.setenv(turnos.SIDE_ENV, name)
        side = await Turnos.from_env()
    for label in labels:
        await side.switch(label)
        await asyncio.sleep(0.001)
    await side.close()
    return side.rounds


async def test_a_side_behind_catches_up_alone_and_pairs_stay_one_benchmark_one_round() -> None:
    """The head runs a benchmark the base does not have: its blocks never pair, and a side that falls
    behind on a shared benchmark takes solo turns until both wait at the same one again."""
    coordinator = Coordinator(2, seed=3)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    head, base = await asyncio.gather(
        _labelled("head", address, ["new"] * 3 + ["common"] * 6 + ["last"] * 4),
        _labelled("base", address, ["common"] * 6 + ["last"] * 4),
    )
    await asyncio.wait_for(serving, 5)
    base_rounds = {r: label for label, r in base}
    paired = [(label, r) for label, r in head if base_rounds.get(r) == label]
    assert all(label != "new" for label, _ in paired)
    assert sum(label == "last" for label, _ in paired) == 4  # back in lockstep for the last benchmark
    for round_ in {r for r, _, _ in coordinator.log}:
        sides = [side for r, side, _ in coordinator.log if r == round_]
        assert len(sides) == len(set(sides))  # one turn per side per round
