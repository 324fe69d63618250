"""Extra block pairs for a benchmark the fixed count left undecided (issue 10's "sample more blocks,
within a time budget").

Both sides measure the blocks their code asks for; then each side asks the coordinator for more, with the
median of every block it measured and that block's round (julia.perf.engine.turns, protocol 2). When
both sides ask at the same benchmark, the coordinator pairs the medians by round as the gate will
(julia.perf.engine.stats.compare_blocks) and grants both one more block while the verdict is
inconclusive, at most as many extra as the fixed count (doubling the pairs) and within one time budget
for the whole run.

Looking again after every extra block would give an unchanged benchmark many chances to cross its
threshold by luck, so the verdict is only re-read every quarter of the fixed count of extra blocks (at
least 2): at most four looks, the first included, before the gate's own verdict. An A/A pair's true
ratio lies well below every threshold (perf/budgets.toml: each clears the highest A/A lower bound by at
least 2%), and more pairs pull its interval towards that ratio, not over the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from julia.perf.engine import stats

Medians = Sequence[tuple[int, float]]  # (round, median ms) of every block a side measured


@dataclass
class ExtraBlocks:
    """The policy, owned by the coordinator: `threshold_of(label)` is the gate's threshold of that
    benchmark (labels are benchmark names); `budget_s` the wall time all extra rounds may take."""

    threshold_of: Callable[[str], float]
    budget_s: float
    spent_s: float = 0.0
    granted: dict[str, int] = field(default_factory=dict)  # extra blocks per benchmark, for the record
    _fixed: dict[str, int] = field(default_factory=dict)  # the pairs it had when it first asked

    def more(self, label: str, head: Medians, base: Medians) -> bool:
        """Whether both sides measure one more block of `label`."""
        pairs = len({r for r, _ in head} & {r for r, _ in base})
        fixed = self._fixed.setdefault(label, pairs)
        done = self.granted.get(label, 0)
        if pairs == 0 or done >= fixed or self.spent_s >= self.budget_s:
            return False
        if done % max(2, math.ceil(fixed / 4)) == 0:  # a look: is it still undecided?
            verdict = stats.compare_blocks(
                [[m] for _, m in head],
                [[m] for _, m in base],
                head_rounds=[r for r, _ in head],
                base_rounds=[r for r, _ in base],
                threshold=self.threshold_of(label),
            )
            if verdict.outcome != "inconclusive":
                return False
        self.granted[label] = done + 1
        return True


def encode(medians: Medians) -> str:
    return ",".join(f"{r}:{m:.6g}" for r, m in medians)


def decode(text: str) -> list[tuple[int, float]]:
    out = []
    for item in text.split(","):
        if item:
            r, m = item.split(":")
            out.append((int(r), float(m)))
    return out
