"""How well the allocation gate (julia/perf/engine/allocations.py, ALLOWED_GROWTH) tells unchanged code from
a real increase, measured: its false failures in A/A runs and its catches of an injected one.

    flock /work/perf.lock python perf/allocations_accuracy.py [--runs 20] [--injected 20]
    flock /work/perf.lock python perf/allocations_accuracy.py --resume --rounds 1   # one more round

Allocations do not depend on the CPU's load, so no timed block is run: each round is one same-run A/B run
(julia.perf.engine.ab, as `julia perf run` does it: both sides the head, each a pytest process with its
own database and Redis database on the same servers) with `--allocations-only`, in which every warm
benchmark that traces its allocations (the queries, the cache reads, the queue claim, the message path)
warms up and traces them, and nothing else. A/A rounds: the head against itself; injected rounds: the
head with `--inject-regression copy-context` (every reply keeps a copy of the context Claude is given
until Claude answers: perf/test_message_path.py) against itself without it. Per benchmark: the head/base
ratio of the median peak in every round, how many A/A rounds a tolerance would have failed, and how many
injected rounds it caught. The figures, and every round's ratios, are rewritten after every round into
perf/calibration/allocations/<machine class>.json (a run stopped half way keeps what it measured), which
`--resume` continues from; `--rounds N` stops after N new rounds, so a long calibration takes the
machine's lock one round at a time and leaves it to others in between. The figures are printed as a
table for docs/performance.md. About a minute a round on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rounds  # perf/rounds.py, beside this script

from julia.perf.engine import ab, allocations, config
from julia.perf.engine.results import Run
from julia.perf.engine.vcs import git

# The pytest tests that trace allocations (-k): every other benchmark of the suite is left out.
TRACED = "test_cache or test_message_path or test_warm or test_queue_claim"
INJECTED = "copy-context"
TARGET = "message_path_claude0ms"  # the benchmark the injection changes
TOLERANCES = (0.01, 0.02, 0.03, 0.05, 0.10)  # each one's false failures and catches are counted


# The two statistics of a benchmark's traced calls compared head against base: the median peak (what the
# gate judged first) and the smallest, the call that met no housekeeping on the way.
STATISTICS = {"median": "alloc_peak_bytes", "min": "alloc_peak_bytes_range"}


def _peak(counters: dict[str, Any], statistic: str) -> int | None:
    value = counters.get(STATISTICS[statistic])
    return value[0] if isinstance(value, list) else value


def ratios(run: Run) -> dict[str, dict[str, float]]:
    """Per benchmark both sides traced, per statistic: head's peak, base's and their ratio."""
    out: dict[str, dict[str, float]] = {}
    if run.base is None:
        raise SystemExit("the base side's run failed: see reports/out/calibration-allocations/base.log")
    for name, bench in sorted(run.benches.items()):
        base = run.base.benches.get(name)
        if base is None or "alloc_peak_bytes" not in bench.counters:
            continue
        one: dict[str, float] = {}
        for statistic in STATISTICS:
            head_peak, base_peak = _peak(bench.counters, statistic), _peak(base.counters, statistic)
            if head_peak is not None and base_peak:
                one |= {f"{statistic}_base": base_peak, statistic: round(head_peak / base_peak, 4)}
        out[name] = one
    return out


def _spread(values: list[float], bases: list[float]) -> dict[str, Any]:
    """The ratios' range, and how many of them each tolerance reports, by the gate's own rule
    (allocations.exceeds: the relative tolerance and the floor in bytes, from each pair's base peak)."""
    return {
        "min": min(values, default=None),
        "median": round(statistics.median(values), 4) if values else None,
        "max": max(values, default=None),
        "over": {
            f"{t:g}": sum(allocations.exceeds(r, b, t) for r, b in zip(values, bases, strict=True))
            for t in TOLERANCES
        },
    }


def _base(round_: dict[str, float], statistic: str, typical: float) -> float:
    """The base's peak of one pair; a round kept from before the base's peak was recorded (the first 6
    and 6) uses the benchmark's median peak over the rounds that have it."""
    return round_.get(f"{statistic}_base", round_.get("median_base", typical))


def figures(aa: list[dict[str, Any]], injected: list[dict[str, Any]]) -> dict[str, Any]:
    """Per benchmark, statistic and tolerance: false failures in the A/A rounds and catches in the injected
    ones (of the target; for the others an injected round is one more unchanged pair, counted as A/A)."""
    names = sorted({name for one in aa + injected for name in one})
    benches: dict[str, Any] = {}
    typical: dict[str, float] = {}
    for name in names:
        peaks = [one[name]["median_base"] for one in aa if "median_base" in one.get(name, {})]
        typical[name] = statistics.median(peaks) if peaks else 0.0
        entry: dict[str, Any] = {"peak_kib_median": round(typical[name] / 1024, 1) if peaks else None}
        for statistic in STATISTICS:
            pairs = [one[name] for one in aa if statistic in one.get(name, {})]
            if name != TARGET:
                pairs += [one[name] for one in injected if statistic in one.get(name, {})]
            same = [pair[statistic] for pair in pairs]
            bases = [_base(pair, statistic, typical[name]) for pair in pairs]
            hit = [one[name] for one in injected if statistic in one.get(name, {})]
            caught = [pair[statistic] for pair in hit]
            hit_bases = [_base(pair, statistic, typical[name]) for pair in hit]
            entry[statistic] = {
                "aa_runs": len(same),
                "aa": _spread(same, bases),
                "aa_ratios": same,
                **(
                    {"injected": _spread(caught, hit_bases), "injected_ratios": caught}
                    if name == TARGET
                    else {}
                ),
            }
        benches[name] = entry
    failed = {
        statistic: {
            f"{t:g}": sum(
                any(
                    statistic in v and allocations.exceeds(v[statistic], _base(v, statistic, typical[n]), t)
                    for n, v in one.items()
                )
                for one in aa
            )
            for t in TOLERANCES
        }
        for statistic in STATISTICS
    }
    return {"aa_runs_failed": failed, "benches": benches}


def table(payload: dict[str, Any], statistic: str, tolerance: float) -> str:
    t = f"{tolerance:g}"
    lines = [
        f"{statistic} peak per call, head/base; tolerance {1 + tolerance:g}x and "
        f"{allocations.GROWTH_FLOOR_BYTES:,} bytes",
        "",
        "| benchmark | peak, KiB | A/A (min-median-max) | A/A failed | injected (min-median) | caught |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in payload["benches"].items():
        figures = b[statistic]
        aa, injected = figures["aa"], figures.get("injected")
        caught = f"{injected['over'][t]}/{len(figures['injected_ratios'])}" if injected else "-"
        lines.append(
            f"| {name} | {b['peak_kib_median']} | {aa['min']:.3f}-{aa['median']:.3f}-{aa['max']:.3f}x "
            f"| {aa['over'][t]}/{figures['aa_runs']} | "
            + (f"{injected['min']:.3f}-{injected['median']:.3f}x" if injected and injected["min"] else "-")
            + f" | {caught} |"
        )
    failed = payload["aa_runs_failed"][statistic][t]
    lines.append(f"\nA/A runs with any allocation failure: {failed}/{payload['aa_runs']}\n")
    return "\n".join(lines)


def kept_rounds(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The A/A and injected rounds a stopped calibration wrote into its figures file. A file written
    before the rounds were kept in it (2026-12-07, 6 and 6) has each benchmark's ratios in round order:
    for the target its A/A then its injected ones, for the others the A/A rounds' then the injected
    rounds' (`figures`); split back, those rounds lack only the base's peak (`median_base`)."""
    payload = json.loads(path.read_text())
    if "rounds" in payload:
        return payload["rounds"]["aa"], payload["rounds"]["injected"]
    aa_runs, injected_runs = payload["aa_runs"], payload["injected_runs"]
    aa: list[dict[str, Any]] = [{} for _ in range(aa_runs)]
    injected: list[dict[str, Any]] = [{} for _ in range(injected_runs)]
    for name, bench in payload["benches"].items():
        for statistic in STATISTICS:
            same, caught = bench[statistic]["aa_ratios"], bench[statistic].get("injected_ratios", [])
            if name != TARGET:
                same, caught = same[:aa_runs], same[aa_runs:]
            if len(same) != aa_runs or len(caught) != injected_runs:
                raise SystemExit(
                    f"{path}: {name}'s ratios do not split into {aa_runs} A/A and {injected_runs} "
                    "injected rounds; start a new calibration (without --resume)"
                )
            for one, ratio in zip(aa, same, strict=True):
                one.setdefault(name, {})[statistic] = ratio
            for one, ratio in zip(injected, caught, strict=True):
                one.setdefault(name, {})[statistic] = ratio
    return aa, injected


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="A/A rounds (default 20)")
    parser.add_argument("--injected", type=int, default=20, help="rounds with the injection (default 20)")
    parser.add_argument("--doctors", type=int, default=1000, help="doctors seeded per side (default 1,000)")
    rounds.add_options(parser, "allocations")
    args = rounds.parse(parser)
    if args.runs < 1 or args.injected < 0:
        parser.error("--runs must be at least 1 and --injected at least 0")
    cfg = config.find(None)
    work = cfg.out / "calibration-allocations"
    pytest_args = [f"--doctors={args.doctors}", "--allocations-only", "-k", TRACED]
    with rounds.calibrating(args, cfg, "allocations") as setup:
        found, machine, path = setup.found, setup.machine, setup.path
        aa, injected = kept_rounds(path) if setup.resumed else ([], [])
        wanted = {"aa": args.runs, "injected": args.injected}
        for kind, r in setup.todo("allocations", wanted, {"aa": len(aa), "injected": len(injected)}):
            run = ab.run(
                cfg.root,
                found,
                pytest_args,
                work / f"{kind}-{r}.json",
                base_ref=None,
                project=cfg.project,
                turn_modules=cfg.turn_modules,
                server_applications=cfg.server_applications,
                owns_server=found.database_origin != "url",
                same_code=True,
                head_extra=(f"--inject-regression={INJECTED}",) if kind == "injected" else (),
                topology=found.topology,
            )
            (aa if kind == "aa" else injected).append(ratios(run))
            payload = {
                "machine_class": machine,
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "git_commit": git(cfg.root, "rev-parse", "--short", "HEAD"),
                "command": "python perf/allocations_accuracy.py "
                f"--runs {args.runs} --injected {args.injected}",
                "allowed_growth": allocations.ALLOWED_GROWTH,
                "injection": INJECTED,
                "aa_runs": len(aa),
                "injected_runs": len(injected),
                **figures(aa, injected),
                "rounds": {"aa": aa, "injected": injected},
            }
            rounds.write(path, payload)
    payload = {"aa_runs": len(aa), **figures(aa, injected)}
    for statistic in STATISTICS:
        print(table(payload, statistic, allocations.ALLOWED_GROWTH))
    print(f"{len(aa)} A/A and {len(injected)} injected rounds in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
