"""Which commit a run is judged against, and why, in one line.

The base is the commit the change under test starts from, never a stored baseline (a commit that moved
whenever someone accepted a run, so that a pull request was charged for everything landed since):
- `--base REF`, when given;
- a pull request in CI: its merge-base with the target branch (GitHub's GITHUB_BASE_REF, the target's
  commit from the event payload when there is one), as github-action-benchmark #267 and
  AirspeedVelocity.jl #79 ask; on GitHub's merge commit that is the target's tip, i.e. the PR's own changes;
- anything else (a push to main, .ci/run on a fresh clone, a local run): HEAD's first parent, so each run on
  main measures one commit against its parent and the history's chained ratios reach back without a gap.
A clone with no history (shallow) has no base: the run is judged on budgets and counts, and the stored
baseline shows drift only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from julia.perf.engine.vcs import git

NO_HISTORY = (
    "no base: no history reachable (a shallow clone?); judged on budgets, the stored baseline's drift beside"
)


@dataclass(frozen=True)
class BaseChoice:
    ref: str | None  # what to resolve (None: no base reachable)
    why: str  # why this base, one line (the job summary's first line repeats it)


def choose(root: Path, explicit: str | None, env: Mapping[str, str] | None = None) -> BaseChoice:
    env = os.environ if env is None else env
    if explicit:
        return BaseChoice(explicit, f"--base {explicit}")
    target = env.get("GITHUB_BASE_REF")
    if target:
        return _merge_base(root, target, _payload_base(env))
    parent = git(root, "rev-parse", "--verify", "--quiet", "HEAD^1^{commit}")
    if parent:
        return BaseChoice(parent, "HEAD's parent (a push to main or a local run)")
    return BaseChoice(None, NO_HISTORY)


def _payload_base(env: Mapping[str, str]) -> str | None:
    """pull_request.base.sha of the event that started the workflow: the target's tip the PR was built on."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return None
    try:
        base = json.loads(Path(path).read_text()).get("pull_request", {}).get("base", {}).get("sha")
    except (ValueError, AttributeError):
        return None
    return str(base) if base else None


def _merge_base(root: Path, target: str, target_sha: str | None) -> BaseChoice:
    for candidate in (target_sha, f"origin/{target}", target):
        if candidate and (found := git(root, "merge-base", "HEAD", candidate)):
            return BaseChoice(found, f"merge-base with {target} (a pull request)")
    return BaseChoice(None, f"no base: {target}'s history is not in this clone (fetch-depth: 0?)")
