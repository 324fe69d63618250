"""The turn protocol of a same-run A/B run (julia.perf.engine.turns), over real loopback sockets: two sides
never work at once, each round grants every waiting side once in a random order, and a side that finishes
(or never starts) does not stall the other."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest

from julia.perf.context import PROJECT
from julia.perf.engine import extra, turns
from julia.perf.engine.extra import ExtraBlocks
from julia.perf.engine.turns import Coordinator, TurnTaking


async def _side(
    name: str, address: str, blocks: int, busy: list[str], seen: list[tuple[str, int]]
) -> list[tuple[str, int]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROJECT.variable(turns.TURNS), address)
        patch.setenv(PROJECT.variable(turns.SIDE), name)
        side = await TurnTaking.from_env(PROJECT.variables)
    for k in range(blocks):
        await side.switch(f"bench:{k}")
        busy.append(name)
        assert busy == [name], f"{busy} working at once"
        seen.append((name, k))
        await asyncio.sleep(0.002)  # the block
        busy.remove(name)
    await side.close()
    return side.rounds


async def _both_sides(
    coordinator: Coordinator, head_blocks: int, base_blocks: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]:
    """Head and base through `coordinator`'s turns until it stops: each side's rounds, and every block
    run as (side, block) in the order they ran."""
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    busy: list[str] = []
    seen: list[tuple[str, int]] = []
    head, base = await asyncio.gather(
        _side("head", address, head_blocks, busy, seen), _side("base", address, base_blocks, busy, seen)
    )
    await asyncio.wait_for(serving, 5)
    return head, base, seen


async def test_two_sides_alternate_and_never_overlap() -> None:
    coordinator = Coordinator(2, seed=7)
    head, base, _ = await _both_sides(coordinator, 12, 12)
    # Round r holds block r of both sides: the k-th blocks were measured next to each other.
    assert [r for _, r in head] == list(range(12))
    assert [r for _, r in base] == list(range(12))
    firsts = [side for round_, side, _ in coordinator.log[::2]]
    assert {"head", "base"} == set(firsts)  # the order is randomized, not fixed
    assert len(coordinator.log) == 24


async def test_a_side_that_finishes_early_leaves_the_other_running() -> None:
    _, _, seen = await _both_sides(Coordinator(2, seed=1), 10, 2)
    assert sum(1 for name, _ in seen if name == "head") == 10


async def test_a_side_that_never_connects_is_not_waited_for() -> None:
    coordinator = Coordinator(2, seed=1)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    coordinator.side_exited()  # its process died before connecting
    await _side("head", address, 3, [], [])
    await asyncio.wait_for(serving, 5)


async def test_without_a_coordinator_every_turn_is_granted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROJECT.variable(turns.TURNS), raising=False)
    side = await TurnTaking.from_env(PROJECT.variables)
    assert [await side.switch("a"), await side.switch("b")] == [0, 1]


async def _labelled(name: str, address: str, labels: list[str]) -> list[tuple[str, int]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROJECT.variable(turns.TURNS), address)
        patch.setenv(PROJECT.variable(turns.SIDE), name)
        side = await TurnTaking.from_env(PROJECT.variables)
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


def _policy(budget_s: float = 60.0) -> ExtraBlocks:
    return ExtraBlocks(lambda label: 1.05, budget_s)


Asked = tuple[int, list[tuple[int, float]]]  # a side's extra blocks, and (round, median) of every block


async def _asking(
    name: str, address: str, median: Callable[[int], float], fixed: int, protocol: int = 2
) -> Asked:
    """A side measuring `fixed` blocks of one benchmark, then (protocol 2) as many more as it is granted,
    then the next benchmark: how many extra it measured, and its (round, median) of every block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROJECT.variable(turns.TURNS), address)
        patch.setenv(PROJECT.variable(turns.SIDE), name)
        side = await TurnTaking.from_env(PROJECT.variables)
    medians = []
    for k in range(fixed):
        medians.append((await side.switch("bench"), median(k)))
    extra = 0
    while protocol >= 2 and (round_ := await side.more("bench", medians)) is not None:
        medians.append((round_, median(len(medians))))
        extra += 1
    await side.switch("next")
    await side.close()
    return extra, medians


async def _run(
    policy: ExtraBlocks | None, head: Callable[[int], float], base_protocol: int = 2
) -> tuple[Asked, Asked]:
    coordinator = Coordinator(2, seed=5, extra_blocks=policy)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    head_side, base_side = await asyncio.gather(
        _asking("head", address, head, 8),
        _asking("base", address, lambda k: 1.0 + 0.2 * math.cos(k), 8, base_protocol),
    )
    await asyncio.wait_for(serving, 5)
    return head_side, base_side


def _noisy(k: int) -> float:
    return 1.0 + 0.2 * math.sin(3 * k)  # the base's spread, no slowdown: undecided at a 1.05 threshold


async def test_an_undecided_benchmark_gets_extra_blocks_on_both_sides_in_the_same_rounds() -> None:
    policy = _policy()
    (head_extra, head), (base_extra, base) = await _run(policy, _noisy)
    assert head_extra == base_extra == 8  # at most as many again as the fixed count
    assert [r for r, _ in head] == [r for r, _ in base]  # every extra block has its pair
    assert policy.granted == {"bench": 8}


async def test_a_decided_benchmark_gets_none() -> None:
    (head_extra, _), (base_extra, _) = await _run(_policy(), lambda k: 3.0)
    assert head_extra == base_extra == 0


async def test_no_time_left_or_no_policy_means_no_extra_blocks() -> None:
    for policy in (_policy(budget_s=0.0), None):
        (head_extra, _), (base_extra, _) = await _run(policy, _noisy)
        assert head_extra == base_extra == 0


async def test_a_base_that_never_asks_leaves_the_head_at_its_fixed_blocks() -> None:
    (head_extra, head), (base_extra, base) = await _run(_policy(), _noisy, base_protocol=1)
    assert head_extra == base_extra == 0
    assert [r for r, _ in head] == [r for r, _ in base]


def test_the_verdict_is_re_read_only_every_quarter_of_the_fixed_count() -> None:
    """Within a stretch of extra blocks the policy does not look: a run that became decided keeps going
    to the next look, so an unchanged benchmark gets few chances to cross its threshold by luck."""
    policy = _policy()
    base = [(r, 1.0 + 0.2 * math.cos(r)) for r in range(8)]
    noisy = [(r, _noisy(r)) for r in range(8)]
    assert policy.more("bench", noisy, base)  # the first look: undecided
    slowed = [(r, 3.0) for r in range(9)]
    base.append((8, 1.0))
    assert policy.more("bench", slowed, base)  # no look after 1 extra of a stretch of 2
    base.append((9, 1.0))
    assert not policy.more("bench", [*slowed, (9, 3.0)], base)  # the next look: decided


def test_medians_cross_the_wire_intact() -> None:
    medians = [(0, 0.123456), (3, 12.5), (7, 1e-4)]
    assert extra.decode(extra.encode(medians)) == medians
    assert extra.decode("") == []
