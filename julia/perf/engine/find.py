"""`julia perf find GOOD BAD`: the git side of the bisection (julia.perf.engine.bisect) and its oracle, a
real same-run A/B (julia.perf.engine.ab) of two commits, each checked out into a worktree of its own under
<out>/find/ and reused across steps, judged by the gate at the benchmark's threshold (perf/budgets.toml,
calibrated by `julia perf calibrate`)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from julia.perf.engine import ab
from julia.perf.engine.bisect import Measured
from julia.perf.engine.config import Config
from julia.perf.engine.errors import PerfError
from julia.perf.engine.extra import ExtraBlocks
from julia.perf.engine.gate import Verdict, judge, load_budgets
from julia.perf.engine.vcs import git

# The retry of an inconclusive step measures more blocks (`retry_args`: more samples) and may spend this
# many times the run's usual extra-block time (and at least RETRY_MIN_S) on undecided benchmarks
# (julia.perf.engine.extra). Seen on a loaded 2-core machine: one pass of extra blocks alone (48-73 pairs
# in 2-4 s) left a 1.05x-threshold query inconclusive again.
RETRY_FACTOR = 4
RETRY_MIN_S = 120.0
EVIDENCE = ("plan", "rows", "buffers", "counts")  # the gate's findings that say what moved, not how much


def first_parent(root: Path, good: str, bad: str) -> tuple[str, list[str]]:
    """(GOOD's sha, the first-parent commits after it up to BAD, oldest first)."""
    good_sha, bad_sha = ab.resolve_commit(root, good), ab.resolve_commit(root, bad)
    if good_sha is None or bad_sha is None:
        raise PerfError(f"{good if good_sha is None else bad} is not a commit of this clone")
    if git(root, "merge-base", "--is-ancestor", good_sha, bad_sha) is None:
        raise PerfError(f"GOOD {good} is not an ancestor of BAD {bad}")
    listed = git(root, "rev-list", "--first-parent", "--reverse", f"{good_sha}..{bad_sha}") or ""
    return good_sha, listed.split()


@dataclass
class ABOracle:
    """Measures head against base for `bench`; with no bench given, the first run (BAD against GOOD) picks
    the benchmark that regressed most surely (the highest lower bound)."""

    config: Config
    services: ab.Servers
    pytest_args: Sequence[str]
    retry_args: Sequence[str] = ()  # added on the retry of an inconclusive step: more samples, more blocks
    bench: str | None = None
    owns_server: bool = False
    runs: int = 0
    log: list[str] = field(default_factory=list)

    def __call__(self, head: str, base: str, attempt: int) -> Measured:
        self.runs += 1
        measured = self._measure(head, base, attempt)
        line = f"find: run {self.runs}: {head[:12]} against {base[:12]}" + (
            " (again, more blocks)" if attempt > 1 else ""
        )
        self.log.append(f"{line}: {self.bench or '-'} {measured.text()}")
        print(self.log[-1], flush=True)
        return measured

    def _measure(self, head: str, base: str, attempt: int) -> Measured:
        budgets = load_budgets(self.config.budgets)
        work = self.config.out / "find"
        extra = (
            budgets.extra_blocks()
            if attempt == 1
            else ExtraBlocks(budgets.threshold_of, max(RETRY_FACTOR * budgets.extra_s, RETRY_MIN_S))
        )
        try:
            tree = ab.prepare_base(self.config.root, head, work).root
            run = ab.run(
                tree,
                self.services,
                [*self.pytest_args, *(self.retry_args if attempt > 1 else ())],
                work / f"{head[:12]}-{base[:12]}-{attempt}.json",
                base_ref=base,
                base_why=f"{self.config.project.command} find: {head[:12]} against {base[:12]}",
                project=self.config.project,
                turn_modules=self.config.turn_modules,
                server_applications=self.config.server_applications,
                owns_server=self.owns_server,
                extra_blocks=extra,
            )
        except (PerfError, subprocess.CalledProcessError) as exc:  # does not build, install or migrate
            return Measured("failed", note=str(exc))
        if run.base is None:
            return Measured("failed", note=str((run.stamp.get("ab") or {}).get("why")))
        verdicts = judge(run, budgets)
        if self.bench is None:
            self.bench = _most_surely_regressed(verdicts)
            if self.bench is None:
                return Measured("ok", note="no benchmark regressed")
        verdict = next((v for v in verdicts if v.name == self.bench), None)
        found = verdict.ab if verdict is not None else None
        if verdict is None or found is None or found.outcome == "unpaired":
            return Measured("failed", note=f"{self.bench} has no same-run verdict in this run")
        evidence = tuple(f.message for f in verdict.findings if f.check in EVIDENCE)
        return Measured(found.outcome, found.ratio, found.low, found.high, evidence=evidence)


def _most_surely_regressed(verdicts: list[Verdict]) -> str | None:
    regressed = [v for v in verdicts if v.ab is not None and v.ab.outcome == "regressed"]
    return max(regressed, key=lambda v: v.ab.low if v.ab else 0.0).name if regressed else None
