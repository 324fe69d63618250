"""Unchanged code with the explanations on (issues 30 and 35): how often the gate names a cause where there
is none, whether the profiles and the allocation tracing move a timing verdict, and what they cost in
wall time. docs/performance.md, "Unchanged code over 20 runs: causes, timing and wall time".

    flock /work/perf.lock python perf/causes_accuracy.py [--runs 20] [--off 3]
    flock /work/perf.lock python perf/causes_accuracy.py --resume --rounds 1   # one more round

Each round is one same-run A/B run as `julia perf run --base HEAD` makes it (julia.perf.engine.ab: the
base a worktree of the head's own commit, the extra blocks of the machine class's budgets), of the warm
benchmarks that have every kind of evidence (profiles, allocations, statements: SUBSET), then judged as
`julia perf gate --explain all` judges it: each benchmark's verdict and the first line of its causes
(julia.perf.engine.causes), asked for every benchmark measured, not only the undecided. Nothing changed,
so every cause other than "no attributable change" is a false one, every timing failure a false failure.
`--off` rounds, interleaved, run the same with `--no-profiles-or-allocations` (perf/conftest.py: no
profile chunks, no allocation tracing): their timing verdicts are the comparison without the evidence,
and their wall time against the others' is what the evidence costs.

Per round it keeps the timing verdict (failed, inconclusive, ok) and the first cause line and its kind of
every benchmark, the allocation findings, the run's wall time and the machine's load (`uptime`) before
and after. The tally and every round are rewritten after every round into
perf/calibration/causes/<machine class>.json (a run stopped half way keeps what it measured), which
`--resume` continues from; `--rounds N` stops after N new rounds, so the lock is taken one round at a
time. The figures are printed as a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rounds  # perf/rounds.py, beside this script

from julia.perf.engine import ab, calibration, causes, config
from julia.perf.engine.gate import Budgets, Verdict, judge, load_budgets
from julia.perf.engine.results import Run
from julia.perf.engine.vcs import git

# The benchmarks with profiles, allocations and statement evidence (pytest -k): the warm queries, the cache
# reads, the message path and the queue claim. The cold queries, webhooks, reservations and campaigns are
# left out, to keep a round within a few minutes of the shared lock.
SUBSET = "test_warm or test_cache or test_message_path or test_queue_claim"
OFF = "--no-profiles-or-allocations"
KINDS = ("on", "off")


def timing(verdict: Verdict) -> str:
    """The same-run timing verdict alone: failed (the whole interval above the threshold), inconclusive,
    ok; none for a benchmark with no same-run comparison (a floor measured inside the others' turns)."""
    if any(f.check == "regression" and f.severity in ("fail", "warn") for f in verdict.findings):
        return "failed"
    if any(f.check == "inconclusive" for f in verdict.findings):
        return "inconclusive"
    return "ok" if verdict.ab is not None and verdict.ab.outcome != "unpaired" else "none"


def observe(run: Run, budgets: Budgets) -> dict[str, Any]:
    """One measured run, judged and explained: per benchmark its status, timing verdict, interval, first
    cause and that cause's kind, and every allocation finding."""
    verdicts = judge(run, budgets)
    explained = causes.explain(run, verdicts, also=list(run.benches))
    benches: dict[str, Any] = {}
    for v in verdicts:
        if v.name not in run.benches:
            continue
        cause = explained[v.name]
        first = cause.candidates[0] if cause.candidates else None
        benches[v.name] = {
            "status": v.status,
            "timing": timing(v),
            "ratio": round(v.ab.ratio, 4) if v.ab else None,
            "interval": [round(v.ab.low, 4), round(v.ab.high, 4)] if v.ab else None,
            "cause": cause.line,
            "cause_kind": first.kind if first else None,
            "candidates": len(cause.candidates),
            "allocations": [f"{f.severity}: {f.message}" for f in v.findings if f.check == "allocations"],
            "profiled": bool(run.benches[v.name].profile),
        }
    return benches


def _seconds(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": round(statistics.median(values), 1), "max": max(values)}


def tally(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind of round (on: the evidence on; off: without it): how many rounds said "no attributable
    change" for every benchmark, which benchmarks and kinds of cause were named otherwise, the timing false
    failures and inconclusive verdicts per run, the allocation findings and the wall time; and the wall
    time's growth with the evidence on (medians' ratio, and its range over every pair of rounds)."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        mine = [r for r in rounds if r["kind"] == kind]
        if not mine:
            continue
        named = [{n: b for n, b in r["benches"].items() if b["cause"] != causes.NOTHING} for r in mine]
        failed = [sum(b["timing"] == "failed" for b in r["benches"].values()) for r in mine]
        undecided = [sum(b["timing"] == "inconclusive" for b in r["benches"].values()) for r in mine]
        allocated = [sum(bool(b["allocations"]) for b in r["benches"].values()) for r in mine]
        out[kind] = {
            "rounds": len(mine),
            "benchmarks": sorted({n for r in mine for n in r["benches"]}),
            "rounds_nothing_named": sum(not one for one in named),
            "rounds_cause_named": sum(bool(one) for one in named),
            "named_benchmarks": dict(sorted(Counter(n for one in named for n in one).items())),
            "named_kinds": dict(
                sorted(Counter(b["cause_kind"] for one in named for b in one.values()).items())
            ),
            "named_lines": [
                {"round": r["round"], "bench": n, "kind": b["cause_kind"], "line": b["cause"]}
                for r, one in zip(mine, named, strict=True)
                for n, b in one.items()
            ],
            # What the summary and the terminal show unasked: the causes of failed, inconclusive, warned.
            "rounds_cause_named_unasked": sum(
                any(b["status"] in causes.EXPLAINED for b in one.values()) for one in named
            ),
            "timing_failed_per_run": failed,
            "rounds_timing_failed": sum(f > 0 for f in failed),
            "timing_failed_benchmarks": dict(
                sorted(
                    Counter(
                        n for r in mine for n, b in r["benches"].items() if b["timing"] == "failed"
                    ).items()
                )
            ),
            "inconclusive_per_run": undecided,
            "rounds_allocation_finding": sum(a > 0 for a in allocated),
            "rounds_gate_failed": sum(
                any(b["status"] == "FAIL" for b in r["benches"].values()) for r in mine
            ),
            "wall_s": _seconds([r["wall_s"] for r in mine]),
            "load_1min": _seconds([r["load_before"][0] for r in mine]),
        }
    if "on" in out and "off" in out:
        out["wall_growth"] = _growth(rounds, lambda r: r["wall_s"])
        # The extra blocks (julia.perf.engine.extra) go to undecided benchmarks, which the noise picks.
        out["wall_growth_without_extra_blocks"] = _growth(rounds, lambda r: r["wall_s"] - (r["extra_s"] or 0))
    return out


def _growth(rounds: list[dict[str, Any]], seconds: Callable[[dict[str, Any]], float]) -> dict[str, float]:
    """The wall time with the evidence on over off: the medians' ratio, and its range over every pair."""
    on = [seconds(r) for r in rounds if r["kind"] == "on"]
    off = [seconds(r) for r in rounds if r["kind"] == "off"]
    return {
        "median_ratio": round(statistics.median(on) / statistics.median(off), 3),
        "min_ratio": round(min(on) / max(off), 3),
        "max_ratio": round(max(on) / min(off), 3),
        "median_added_s": round(statistics.median(on) - statistics.median(off), 1),
    }


def table(figures: dict[str, Any]) -> str:
    """The tally as docs/performance.md shows it: one row per kind of round."""
    lines = [
        "| rounds | runs | every benchmark 'no attributable change' | a cause named (benchmarks, kinds) "
        "| timing false failures | inconclusive per run (min-median-max) | allocation findings "
        "| wall time per run, s (min-median-max) | load, 1 min (min-median-max) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, what in (("on", "profiles and allocations on"), ("off", OFF)):
        one = figures.get(kind)
        if one is None:
            continue
        named = ", ".join(f"{n} x{c}" for n, c in one["named_benchmarks"].items()) or "-"
        kinds = ", ".join(f"{k} x{c}" for k, c in one["named_kinds"].items())
        undecided, wall, load = one["inconclusive_per_run"], one["wall_s"], one["load_1min"]
        lines.append(
            f"| {what} | {one['rounds']} | {one['rounds_nothing_named']} of {one['rounds']} | "
            + (
                f"{one['rounds_cause_named']} runs: {named} ({kinds})"
                if one["rounds_cause_named"]
                else "none"
            )
            + f" | {sum(one['timing_failed_per_run'])} in {one['rounds']} runs "
            f"({one['rounds_timing_failed']} runs with any) | "
            f"{min(undecided)}-{statistics.median(undecided):g}-{max(undecided)} | "
            f"{one['rounds_allocation_finding']} runs | "
            f"{wall['min']:.0f}-{wall['median']:.0f}-{wall['max']:.0f} | "
            f"{load['min']:.1f}-{load['median']:.1f}-{load['max']:.1f} |"
        )
    for key, what in (("wall_growth", ""), ("wall_growth_without_extra_blocks", ", less the extra blocks")):
        growth = figures.get(key)
        if growth:
            lines.append(
                f"\nWall time with the evidence on{what}: {growth['median_ratio']:.3f}x the medians' ratio "
                f"(every pair of rounds {growth['min_ratio']:.3f}-{growth['max_ratio']:.3f}x), "
                f"+{growth['median_added_s']:g} s"
            )
    return "\n".join(lines)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="rounds with the evidence on (default 20)")
    parser.add_argument("--off", type=int, default=0, help=f"rounds with {OFF} (default 0)")
    parser.add_argument("--doctors", type=int, default=1000, help="doctors seeded per side (default 1,000)")
    parser.add_argument(
        "--samples", type=int, default=None, help="timed samples per warm benchmark (default: the suite's)"
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help="measure nothing: judge and explain again every kept round from its results file",
    )
    rounds.add_options(parser, "causes")
    args = rounds.parse(parser)
    if args.runs < 0 or args.off < 0 or args.runs + args.off < 1:
        parser.error("--runs and --off may not be negative, and one of them must be positive")
    cfg = config.find(None)
    work = cfg.out / "calibration-causes"
    pytest_args = [f"--doctors={args.doctors}", "-k", SUBSET]
    if args.samples:
        pytest_args.append(f"--samples={args.samples}")
    if args.rejudge:
        return rejudge(cfg, args, pytest_args)
    with rounds.calibrating(args, cfg, "causes") as setup:
        found, machine, path = setup.found, setup.machine, setup.path
        kept: list[dict[str, Any]] = json.loads(path.read_text())["rounds"] if setup.resumed else []
        budgets = _budgets(cfg, machine)
        done = Counter(r["kind"] for r in kept)
        for kind, r in setup.todo("causes", {"on": args.runs, "off": args.off}, done):
            before, load_before = uptime(), os.getloadavg()
            started = time.monotonic()
            run = ab.run(
                cfg.root,
                found,
                pytest_args + ([OFF] if kind == "off" else []),
                work / f"{kind}-{r}.json",
                base_ref="HEAD",
                base_why="--base HEAD",
                project=cfg.project,
                turn_modules=cfg.turn_modules,
                server_applications=cfg.server_applications,
                owns_server=found.database_origin != "url",
                topology=found.topology,
                extra_blocks=budgets.extra_blocks(),
            )
            wall = round(time.monotonic() - started, 1)
            if run.base is None:
                raise SystemExit(f"the base side's run failed: see {work}/base.log")
            kept.append(
                {
                    "kind": kind,
                    "round": r + 1,
                    "when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "git_commit": git(cfg.root, "rev-parse", "--short", "HEAD"),
                    "wall_s": wall,
                    "ab_s": run.stamp["ab"].get("seconds"),
                    "extra_s": run.stamp["ab"].get("extra_s"),
                    "uptime_before": before,
                    "uptime_after": uptime(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()],
                    "benches": observe(run, budgets),
                }
            )
            _write(path, machine, args, pytest_args, kept)
    print(table(tally(kept)))
    print(f"{Counter(r['kind'] for r in kept)} rounds in {path}")
    return 0


def _budgets(cfg: config.Config, machine: str) -> Budgets:
    """The budgets `julia perf gate` judges a run of this class by (conservative when never calibrated)."""
    budgets = load_budgets(cfg.budgets)
    return budgets if calibration.load(cfg.calibration, machine) else budgets.conservative()


def rejudge(cfg: config.Config, args: argparse.Namespace, pytest_args: list[str]) -> int:
    """`--rejudge`: every kept round judged and explained again from its results file (after a change to
    the causes), nothing measured, no server started."""
    found = sorted((cfg.calibration / "causes").glob("*.json"))
    path = args.out or (found[0] if len(found) == 1 else None)
    if path is None or not path.is_file():
        raise SystemExit("--rejudge: name the figures file with --out")
    payload = json.loads(path.read_text())
    machine, kept = payload["machine_class"], payload["rounds"]
    budgets = _budgets(cfg, machine)
    work = cfg.out / "calibration-causes"
    for one in kept:
        one["benches"] = observe(Run.load(work / f"{one['kind']}-{one['round'] - 1}.json"), budgets)
    _write(path, machine, args, pytest_args, kept)
    print(table(tally(kept)))
    return 0


def _write(
    path: Path, machine: str, args: argparse.Namespace, pytest_args: list[str], kept: list[dict[str, Any]]
) -> None:
    payload = {
        "machine_class": machine,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f"python perf/causes_accuracy.py --runs {args.runs} --off {args.off}"
        + (f" --samples {args.samples}" if args.samples else ""),
        "pytest": pytest_args,
        "figures": tally(kept),
        "benches": _per_bench(kept),
        "rounds": kept,
    }
    rounds.write(path, payload)


def _per_bench(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per benchmark over the rounds with the evidence on: timing verdicts counted, causes named."""
    out: dict[str, Any] = {}
    for r in rounds:
        if r["kind"] != "on":
            continue
        for name, b in r["benches"].items():
            one = out.setdefault(name, {"failed": 0, "inconclusive": 0, "ok": 0, "none": 0, "named": 0})
            one[b["timing"]] += 1
            one["named"] += b["cause"] != causes.NOTHING
    return dict(sorted(out.items()))


if __name__ == "__main__":
    raise SystemExit(main())
