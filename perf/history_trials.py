"""The trials behind issue 32's figures, on branches built for them in a throwaway clone of this checkout:

    python perf/history_trials.py creep [--commits 12] [--step 1.03]
    python perf/history_trials.py culprit [--commits 32] [--factor 1.2] [--trials 10] [--unchanged]
                                          [--seed 32] [--log trials.jsonl]

creep    N commits, each making one warm query (--query) `--step` times slower than its parent; each is
         measured against its parent (`julia perf run`, the warm queries only), gated and recorded in the
         clone's history, then `julia perf changes` reads that history: each gate should pass or be
         inconclusive, the changes report a change or the drift past its budget.
culprit  per trial, N commits of which one, at random, makes the query `--factor` times slower (none with
         --unchanged); `julia perf find` must name it (none) within ceil(log2 N) + 3 A/B runs. Each trial
         is timed.

The slowdown is real CPU work in the measured call (the harness's `slowdown`, as `julia perf calibrate`
injects it), written into the commit's perf/test_queries.py for that one query. Every run measures: wrap
the command in the machine's measurement lock (`flock /work/perf.lock python perf/history_trials.py ...`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERIES = Path("perf") / "test_queries.py"
# The warm benchmark's slowdown argument in test_warm (the first `slowdown=` of the file).
SLOWDOWN = re.compile(r"^(?P<indent>\s+)slowdown=.*$", re.MULTILINE)
JULIA = [sys.executable, "-m", "julia"]


def git(clone: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_clone(into: Path) -> Path:
    """A clone of this checkout's HEAD (its uncommitted changes stay out), on a branch of its own."""
    head = git(ROOT, "rev-parse", "HEAD")
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    git(into, "checkout", "-q", "-B", "trial", head)
    git(into, "config", "user.email", "trial@example.com")
    git(into, "config", "user.name", "history trial")
    return into


def commit(clone: Path, message: str, query: str | None = None, factor: float = 1.0) -> str:
    """One commit: `query`'s warm benchmark `factor` times slower than unslowed, or only a marker file."""
    marker = clone / "perf" / "trial-marker.txt"
    marker.write_text(message + "\n")
    if query is not None:
        path = clone / QUERIES
        text = path.read_text()
        found = SLOWDOWN.search(text)
        if found is None:
            raise SystemExit(f"no slowdown= in {QUERIES}: this trial does not know the harness")
        line = f'{found["indent"]}slowdown={factor!r} if query.name == "{query}" else perf.slowdown,  # trial'
        path.write_text(text[: found.start()] + line + text[found.end() :])
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", message)
    return git(clone, "rev-parse", "HEAD")


def creep_branch(clone: Path, commits: int, step: float, query: str) -> list[str]:
    return [commit(clone, f"creep {i}: {query} {step:g}^{i}", query, step**i) for i in range(1, commits + 1)]


def culprit_branch(clone: Path, commits: int, factor: float, query: str, at: int | None) -> list[str]:
    """`commits` commits; the `at`-th (1-based; None: none) makes `query` `factor` times slower."""
    made = []
    for i in range(1, commits + 1):
        slowed = at is not None and i >= at
        made.append(commit(clone, f"trial {i}", query if slowed else None, factor if slowed else 1.0))
    return made


def julia(clone: Path, *args: str, warm_only: bool = True) -> str:
    """A julia command in the clone (its own julia first on the path); `warm_only`: the perf tests of the
    warm queries only."""
    env = {"PYTEST_ADDOPTS": "-k test_warm"} if warm_only else {}
    done = subprocess.run(
        [*JULIA, *args], cwd=clone, capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    return done.stdout + done.stderr


def creep(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clone = make_clone(Path(tmp) / "clone")
        start = git(clone, "rev-parse", "--short", "HEAD")
        made = creep_branch(clone, args.commits, args.step, args.query)
        bench = f"query_{args.query}_warm"
        for sha in made:
            git(clone, "checkout", "-q", sha)
            began = time.monotonic()
            julia(clone, "perf", "run", f"--samples={args.samples}")
            judged = julia(clone, "perf", "gate", "--record-history", warm_only=False)
            row = next((line for line in judged.splitlines() if bench in line), "(not measured)")
            print(
                f"{sha[:7]} against its parent, {time.monotonic() - began:.0f} s: {row.strip()}", flush=True
            )
        git(clone, "checkout", "-q", made[-1])
        print(julia(clone, "perf", "changes", "--since", made[0][:7], "--out", str(Path(tmp) / "out")))
        print(f"(the branch started at {start})")


def culprit(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    named_right = 0
    for trial in range(1, args.trials + 1):
        at = None if args.unchanged else rng.randint(1, args.commits)
        with tempfile.TemporaryDirectory() as tmp:
            clone = make_clone(Path(tmp) / "clone")
            made = culprit_branch(clone, args.commits, args.factor, args.query, at)
            began = time.monotonic()
            out = julia(
                clone,
                "perf",
                "find",
                f"HEAD~{args.commits}",
                "HEAD",
                "-k",
                f"query_{args.query}_warm",
                "--select",
                "test_warm",
                f"--samples={args.samples}",
                warm_only=False,
            )
            seconds = time.monotonic() - began
        named = re.search(r"^culprit: (\w+)", out, re.MULTILINE)
        runs = re.search(r"^find: (\d+) A/B runs", out, re.MULTILINE)
        expected = made[at - 1][:7] if at is not None else None
        if runs is None:
            # No "find: N A/B runs" line: the command stopped before it measured; naming nothing then
            # is no verdict, and counting it right would hide the failure.
            print(f"trial {trial}: `julia perf find` did not finish:\n{out.strip()}", flush=True)
            if args.log is not None:
                _append(args.log, args, trial, at, expected, None, None, seconds, False, out)
            continue
        right = (named.group(1)[:7] if named else None) == expected
        named_right += right
        if args.log is not None:
            _append(args.log, args, trial, at, expected, named, runs, seconds, right, out)
        print(
            f"trial {trial}: slowed at {at or 'none'} ({expected or '-'}), named "
            f"{named.group(1) if named else 'none'}, {runs.group(1) if runs else '?'} A/B runs "
            f"(budget {math.ceil(math.log2(args.commits)) + 3}), {seconds:.0f} s: "
            + ("right" if right else "WRONG"),
            flush=True,
        )
    print(f"{named_right} of {args.trials} trials right")


def _append(
    log: Path,
    args: argparse.Namespace,
    trial: int,
    at: int | None,
    expected: str | None,
    named: re.Match[str] | None,
    runs: re.Match[str] | None,
    seconds: float,
    right: bool,
    out: str,
) -> None:
    """One trial as a JSON line appended to `log`: a campaign run one trial at a time (the lock taken per
    trial) keeps every trial, and a miss keeps the find's whole output, each step's ratio and interval."""
    row = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": args.seed,
        "trial": trial,
        "commits": args.commits,
        "factor": None if args.unchanged else args.factor,
        "slowed_at": at,
        "expected": expected,
        "named": named.group(1) if named else None,
        "runs": int(runs.group(1)) if runs else None,
        "budget": math.ceil(math.log2(args.commits)) + 3,
        "seconds": round(seconds),
        "load": os.getloadavg(),
        "right": right,
        "output": out,
    }
    with log.open("a") as f:
        f.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="trial", required=True)
    for name, commits in (("creep", 12), ("culprit", 32)):
        one = sub.add_parser(name)
        one.add_argument(
            "--commits", type=int, default=commits, help=f"commits on the branch (default {commits})"
        )
        one.add_argument("--query", default="buscar_medico_por_telefone", help="the warm query slowed")
        one.add_argument("--samples", type=int, default=500, help="timed samples per warm benchmark")
    sub.choices["creep"].add_argument("--step", type=float, default=1.03, help="each commit's slowdown")
    sub.choices["culprit"].add_argument("--factor", type=float, default=1.2, help="the one slowdown")
    sub.choices["culprit"].add_argument("--trials", type=int, default=10, help="trials (default 10)")
    sub.choices["culprit"].add_argument("--unchanged", action="store_true", help="no slowdown at all")
    sub.choices["culprit"].add_argument("--seed", type=int, default=32, help="where the slowdown falls")
    sub.choices["culprit"].add_argument(
        "--log", type=Path, help="append each trial (and find's output) to this JSON-lines file"
    )
    args = parser.parse_args()
    if args.trial == "creep":
        creep(args)
    else:
        culprit(args)


if __name__ == "__main__":
    main()
