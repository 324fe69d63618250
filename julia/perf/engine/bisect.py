"""`julia perf find GOOD BAD`: the commit that made a benchmark slower, by bisection where every step is a
same-run A/B of two commits (julia.perf.engine.ab) judged at the benchmark's calibrated threshold.

asv's `find` and `git bisect run` ask "is this commit good?" of one measurement at a time, so on a noisy
machine or a commit that does not build they degrade to a linear search or a wrong answer (asv #623).
Here a step asks "is this commit slower than the last good one, measured beside it?", which no machine
drift answers for it; the A/B's "inconclusive" buys one more run with more blocks, and a commit that still
cannot be judged, or fails to build or migrate, is skipped as git bisect skips its exit 125: the
bisection moves to the untested commit nearest the middle. The answer is confirmed by a last A/B of the
culprit against its parent; unconfirmed, no culprit is named. When skipped commits leave several
suspects, each is measured against its own parent, newest first, until one is slower than it.

The search itself (`bisect`) knows nothing of git or timing: it is handed the first-parent commits
GOOD..BAD and an oracle that measures one commit against another, so it is tested with a fake oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["regressed", "ok", "inconclusive", "failed"]


@dataclass(frozen=True)
class Measured:
    """One A/B of head against base for the benchmark: its outcome at the threshold, and the ratio."""

    outcome: Outcome
    ratio: float = math.nan
    low: float = math.nan
    high: float = math.nan
    note: str = ""  # why it failed, or why there was nothing to measure
    evidence: tuple[str, ...] = ()  # what moved beside the time: a plan, rows, buffers, statements

    def text(self) -> str:
        if self.outcome == "failed":
            return f"failed ({self.note})" if self.note else "failed"
        if math.isnan(self.ratio):
            return f"{self.outcome} ({self.note})"
        return f"{self.ratio:.3f}x (95% {self.low:.3f}-{self.high:.3f}): {self.outcome}"


# (head, base, attempt) -> Measured; attempt 2 is the retry of an inconclusive step, with more blocks.
Oracle = Callable[[str, str, int], Measured]


@dataclass(frozen=True)
class Trial:
    head: str
    base: str
    attempt: int
    measured: Measured


@dataclass
class Found:
    culprit: str | None  # named only when confirmed against its parent
    why: str
    confirmation: Measured | None = None
    suspects: list[str] = field(default_factory=list)  # skipped commits left the culprit among these
    trials: list[Trial] = field(default_factory=list)


def budget(commits: int) -> int:
    """The A/B runs a clean search takes at most: ceil(log2 N) steps, the first check of BAD against GOOD,
    the confirmation, and one retry of an inconclusive step."""
    return math.ceil(math.log2(max(commits, 1))) + 3


def bisect(commits: Sequence[str], good: str, oracle: Oracle) -> Found:
    """`commits`: GOOD..BAD on the first-parent line, oldest first, BAD last; `good` the GOOD commit."""
    trials: list[Trial] = []

    def measure(head: str, base: str) -> Measured:
        result = oracle(head, base, 1)
        trials.append(Trial(head, base, 1, result))
        if result.outcome == "inconclusive":
            result = oracle(head, base, 2)
            trials.append(Trial(head, base, 2, result))
        return result

    if not commits:
        return Found(None, "no commits between GOOD and BAD")
    bad = commits[-1]
    first = measure(bad, good)
    if first.outcome != "regressed":
        return Found(None, f"BAD is not slower than GOOD beside it: {first.text()}", trials=trials)

    def anchor(i: int) -> str:
        return good if i < 0 else commits[i]

    lo, hi = -1, len(commits) - 1  # anchor(lo) is as fast as GOOD, commits[hi] is slower
    skipped: set[int] = set()
    while hi - lo > 1:
        untested = [i for i in range(lo + 1, hi) if i not in skipped]
        if not untested:
            break
        middle = (lo + hi) / 2
        mid = min(untested, key=lambda i: (abs(i - middle), i))
        result = measure(commits[mid], anchor(lo))
        if result.outcome == "regressed":
            hi = mid
        elif result.outcome == "ok":
            lo = mid
        else:  # failed to build or migrate, or inconclusive twice: skipped
            skipped.add(mid)
    # The culprit is among commits[lo+1..hi]: one commit when every step decided, more when skipped ones
    # lie between. Each is measured against its own parent, newest first: the first slower than its
    # parent is the culprit, and confirmed by that same run; one as fast as its parent passes the
    # question down; one that cannot be judged ends the walk with the rest as suspects.
    suspects = list(commits[lo + 1 : hi + 1])
    for i in range(hi, lo, -1):
        culprit, parent = commits[i], anchor(i - 1)
        confirmation = measure(culprit, parent)
        if confirmation.outcome == "regressed":
            why = f"{culprit[:12]} is {confirmation.text()} against its parent {parent[:12]}"
            if len(suspects) > 1:
                why += f" (skipped commits had left the culprit among {len(suspects)})"
            return Found(culprit, why, confirmation, trials=trials)
        if len(suspects) == 1:
            why = f"{culprit[:12]} not confirmed against its parent {parent[:12]}: {confirmation.text()}"
            return Found(None, why, confirmation, trials=trials)
        if confirmation.outcome != "ok":
            break
    left = suspects[: i - lo]
    why = (
        f"skipped commits leave the culprit among {len(left)}: {', '.join(c[:12] for c in left)} "
        f"({culprit[:12]} against its parent: {confirmation.text()})"
    )
    return Found(None, why, confirmation, suspects=left, trials=trials)
