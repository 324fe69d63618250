"""The timer's bookkeeping (julia.perf.engine.harness), alone (no coordinator): how many calls, in what
blocks, with the untimed steps around each and the paired floor before each."""

from __future__ import annotations

from julia.perf.engine.harness import Step, measure, measure_paired


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []

    def step(self, name: str) -> Step:
        async def run(i: int) -> None:
            self.log.append((name, i))

        return run


async def test_measure_takes_its_samples_in_blocks_after_one_warm_up() -> None:
    calls = Calls()
    out = await measure(
        calls.step("call"),
        samples=120,
        warmup=3,
        before=calls.step("before"),
        after=calls.step("after"),
        block=50,
    )
    assert (len(out.samples_ms), out.blocks, out.rounds) == (
        120,
        [50, 50, 20],
        [-1, -1, -1],
    )  # alone: no rounds
    assert calls.log[:3] == [("before", 0), ("call", 0), ("after", 0)]
    assert [i for name, i in calls.log if name == "call"] == list(range(123))  # i runs on past the warm-up
    assert all(ms >= 0 for ms in out.samples_ms)


async def test_measure_paired_times_a_floor_before_each_call() -> None:
    calls = Calls()
    out = await measure_paired(calls.step("call"), calls.step("floor"), samples=70, warmup=2, block=50)
    assert (len(out.samples_ms), len(out.floor_ms), len(out.ratios)) == (70, 70, 70)
    assert (out.blocks, out.rounds) == ([50, 20], [-1, -1])
    assert calls.log[:4] == [("floor", 0), ("call", 0), ("floor", 1), ("call", 1)]
    assert len(calls.log) == 2 * 72
