"""`julia perf`: the perf suite's commands (they need the `perf` extra: pip install -e '.[perf]').

The glue between julia and its perf engine (julia.perf.engine, which knows nothing of julia): this module
finds perf/perf.toml, resolves the servers and hands the engine the paths, servers and commit it needs.

run        measure the head against its base in the same run (julia.perf.engine.ab) into results.json
calibrate  A/A and injected slowdowns, many runs: each benchmark's false failures and smallest catch
analyze    the critical queries against any database (the seed's analisar_queries)
gate       judge a run (perf.toml's out/results.json) against budgets, its base and the baseline; render
comment    the gate's verdict as a pull-request comment (CI posts it and updates it in place)
baseline   make a run the baseline of its machine class, saying why
changes    change points and slow creep in the history of runs on main
find       the commit that made a benchmark slower (bisection by same-run A/B runs)
scale      fit the log-log slope of each query over runs at several scales
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from julia.errors import JuliaError
from julia.perf.engine.errors import PerfError
from julia.settings import Settings

if TYPE_CHECKING:
    from julia.perf.engine.config import Config

# What the `perf` extra brings (pyproject.toml), by import name.
PERF_MODULES = ("numpy", "pandas", "scipy", "matplotlib", "pytest_benchmark")
# perf/conftest.py's --samples default: `julia perf find` doubles it on the retry of an inconclusive step.
SAMPLES = 2000
# The defaults of --results and --out, as help shows them (julia's perf.toml: out = reports/out).
RESULTS = "perf.toml's out/results.json"
OUT = "perf.toml's out"
# `julia perf gate --explain all`: every benchmark measured (no benchmark is named so).
ALL = "all"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "perf",
        help="the perf suite's tools: run, gate, changes, find, baseline, scale (pip install -e '.[perf]')",
        description="The perf suite's tools (docs/performance.md). `nox -s perf` runs the benchmarks and "
        "then `julia perf gate`; these need the perf extras: pip install -e '.[perf]'.",
    )
    perf_sub = parser.add_subparsers(dest="perf_command", required=True, metavar="SUBCOMMAND")

    run = perf_sub.add_parser(
        "run",
        help="measure this checkout (head) against a base commit, interleaved on the same servers",
        description="Seeds one database per side on the same servers, runs both sides' benchmarks in "
        "alternating randomized turns and writes one results file with both (judge it with `gate`).",
    )
    _run_options(run)
    run.set_defaults(run=_with_extras(_run))

    calibrate = perf_sub.add_parser(
        "calibrate",
        help="measure the gate's own accuracy: A/A runs and runs with a slowdown injected in the head",
        description="Long work (each run is a whole A/B run): for --runs rounds, one A/A run (the head "
        "against itself) and one per --factors slowdown; writes each benchmark's false-failure rate and "
        "the smallest slowdown caught in 19 of 20 runs to perf/calibration/<machine class>.json.",
    )
    calibrate.add_argument("--runs", type=int, default=3, help="A/A runs (default 3)")
    calibrate.add_argument(
        "--injected",
        type=int,
        default=None,
        help="of those rounds, how many also run every factor injected for real (default: all)",
    )
    calibrate.add_argument(
        "--factors",
        default="1.05,1.1,1.2,1.5",
        help="slowdowns injected in the head (default 1.05,1.1,1.2,1.5)",
    )
    calibrate.add_argument("--doctors", type=int, default=1000, help="synthetic doctors (default 1000)")
    calibrate.add_argument(
        "--out", type=Path, default=None, help="default: <calibration>/<machine class>.json"
    )
    _config_option(calibrate)
    calibrate.set_defaults(run=_with_extras(_calibrate))

    analyze = perf_sub.add_parser("analyze", help="quick table of the critical queries against a database")
    analyze.add_argument("--database-url", default=None, help="default: DATABASE_URL, else a resolved server")
    analyze.add_argument(
        "--doctors",
        type=int,
        default=0,
        help="seed this many doctors first, only into a server julia started itself (default 0: none)",
    )
    analyze.add_argument("--repeat", type=int, default=50, help="timed executions per query")
    analyze.set_defaults(run=_with_extras(_analyze))

    gate = perf_sub.add_parser(
        "gate", help="judge a run against perf/budgets.toml and its base; render the report"
    )
    gate.add_argument("--results", type=Path, default=None, help=f"the run to judge (default {RESULTS})")
    gate.add_argument(
        "--out", type=Path, default=None, help=f"where index.html and the PNGs go (default {OUT})"
    )
    gate.add_argument(
        "--record-history",
        action="store_true",
        help="append this run to <history>/<class>.jsonl (.ci/run and the workflow on main; a plain run "
        "leaves git clean)",
    )
    gate.add_argument(
        "--explain",
        action="append",
        default=[],
        metavar="NAME",
        help="find the likely cause of this benchmark whatever its status (repeatable; `all`: every "
        "benchmark measured); failed, inconclusive and warned ones are always explained",
    )
    _config_option(gate)
    gate.set_defaults(run=_with_extras(_gate))

    comment = perf_sub.add_parser(
        "comment",
        help="the gate's verdict as a pull-request comment (Markdown), with the capacity storm's line",
        description="Judges the run as `gate` does and writes reports/out/comment.md: the verdict line, each "
        "failed and inconclusive benchmark (head/base, interval, 80%%-power effect, cause), the capacity "
        "storm's line (its benchmarks in the same results) and a link to the report. The CI workflow posts "
        "it and updates it in place.",
    )
    comment.add_argument("--results", type=Path, default=None, help=f"the run (default {RESULTS})")
    comment.add_argument("--link", default=None, help="where the whole report is (the run's artifacts URL)")
    comment.add_argument("--out", type=Path, default=None, help="default: out/comment.md")
    _config_option(comment)
    comment.set_defaults(run=_with_extras(_comment))

    baseline = perf_sub.add_parser("baseline", help="store a run as its machine class's baseline")
    baseline.add_argument("--why", required=True, help="why the baseline moves (kept in the file)")
    baseline.add_argument("--who", default=None, help="default: GIT_AUTHOR_NAME, else the user")
    baseline.add_argument(
        "--results", type=Path, default=None, help=f"the run to store as the baseline (default {RESULTS})"
    )
    _config_option(baseline)
    baseline.set_defaults(run=_with_extras(_baseline))

    changes = perf_sub.add_parser(
        "changes",
        help="change points and slow creep in the history of runs on main (Apache Otava)",
        description="Reads <history>/<class>.jsonl (runs on main, each against its parent): lists each "
        "step (one commit that moved a benchmark's time), each change of rate (a creep starting or "
        "stopping), each counter or plan that changed, with its commit range, size and confidence, and "
        "each benchmark whose last --last chained ratios multiply past --budget.",
    )
    _history_options(changes)
    changes.add_argument(
        "--last", type=int, default=None, help="links the drift check multiplies (default 12)"
    )
    changes.add_argument(
        "--budget", type=float, default=None, help="the drift budget, a ratio (default 1.15)"
    )
    changes.add_argument(
        "--since", default=None, help="start the history at this commit (default: its first run)"
    )
    changes.add_argument("--out", type=Path, default=None, help=f"where history.html goes (default {OUT})")
    changes.add_argument(
        "--commit-url",
        default=None,
        help="a commit's page, {} for its hash (default on GitHub Actions: the repository's commit page)",
    )
    _config_option(changes)
    changes.set_defaults(run=_with_extras(_changes))

    find = perf_sub.add_parser(
        "find",
        help="the commit that made a benchmark slower: a bisection of same-run A/B runs",
        description="Bisects the first-parent commits GOOD..BAD: each step measures a commit against the "
        "last good one in the same run and judges it at the benchmark's threshold (perf/budgets.toml); an "
        "inconclusive step runs again with more blocks, a commit that does not build or migrate is skipped, "
        "and the answer is confirmed by an A/B of the culprit against its parent. Long: each step is a run.",
    )
    find.add_argument("good", help="a commit as fast as it should be")
    find.add_argument("bad", help="a later commit that is slower")
    find.add_argument(
        "-k",
        "--bench",
        default=None,
        help="the benchmark (default: the one BAD regressed most surely against GOOD)",
    )
    find.add_argument(
        "--select",
        default=None,
        help="pytest -k expression: run only the perf tests that measure it (e.g. test_warm; default: all)",
    )
    _scale_options(find)
    _config_option(find)
    find.set_defaults(run=_with_extras(_find))

    scale = perf_sub.add_parser("scale", help="log-log slope per query over runs at several scales")
    scale.add_argument("runs", nargs="+", type=Path, help="results files of runs at different --doctors")
    scale.add_argument(
        "--out", type=Path, default=None, help=f"where scale.csv and scale.png go (default {OUT})"
    )
    _config_option(scale)
    scale.set_defaults(run=_with_extras(_scale))


def _with_extras(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The perf tools import numpy, pandas, scipy and matplotlib, which `pip install -e .` leaves out:
    say which extra to install instead of a ModuleNotFoundError from deep inside."""

    def run(args: argparse.Namespace) -> int:
        missing = [module for module in PERF_MODULES if importlib.util.find_spec(module) is None]
        if missing:
            raise JuliaError(
                f"julia perf needs the perf extras ({', '.join(missing)} not installed): "
                "pip install -e '.[perf]'"
            )
        try:
            return command(args)
        except PerfError as exc:  # the engine's refusals are one line, as julia's own are
            raise JuliaError(str(exc)) from exc

    return run


def _scale_options(parser: argparse.ArgumentParser) -> None:
    """What `_pytest_args` passes on to each side's pytest."""
    parser.add_argument("--doctors", type=int, default=1000, help="synthetic doctors per side (default 1000)")
    parser.add_argument(
        "--samples", type=int, default=None, help=f"timed samples per warm benchmark (default {SAMPLES})"
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    _scale_options(parser)
    parser.add_argument(
        "--base",
        default=None,
        help="the commit to compare with (default: a pull request's merge-base with its target in CI, "
        "else HEAD's parent)",
    )
    parser.add_argument("--no-base", action="store_true", help="measure the head alone (budgets only)")
    parser.add_argument(
        "--inject-regression",
        choices=["drop-index", "sleep", "extra-query"],
        default=None,
        help="slow the head down on purpose, to see the gate fail",
    )
    parser.add_argument("--results", type=Path, default=None, help=f"where the run goes (default {RESULTS})")
    _config_option(parser)


def _history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history", type=Path, default=None, help="the history folder (default: perf.toml's history)"
    )
    parser.add_argument(
        "--machine-class",
        default=None,
        help="whose history (default: the only one in the folder, else this machine's kind)",
    )


def _history_lines(args: argparse.Namespace, config: Config) -> tuple[str, list[dict[str, Any]]]:
    """(machine class, its history): --machine-class, else the only file, else this machine's kind."""
    from julia.perf.engine import history

    folder: Path = args.history or config.history
    classes = sorted(path.stem for path in folder.glob("*.jsonl"))
    if args.machine_class:
        chosen = args.machine_class
    elif len(classes) == 1:
        chosen = classes[0]
    else:
        mine = [c for c in classes if c.startswith(f"{platform.machine()}-{os.cpu_count()}cpu-")]
        if len(mine) != 1:
            found = ", ".join(classes) or "none"
            raise JuliaError(f"which machine class? --machine-class one of: {found} (in {folder})")
        chosen = mine[0]
    lines = history.load(history.history_path(folder, chosen))
    if not lines:
        raise JuliaError(f"no history for {chosen} in {folder}: runs on main record it (--record-history)")
    return chosen, lines


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the perf config (default: perf/perf.toml in the working directory or its parents)",
    )


def _config(args: argparse.Namespace) -> Config:
    from julia.perf.engine import config

    return config.find(args.config)


def _pytest_args(args: argparse.Namespace) -> list[str]:
    out = [f"--doctors={args.doctors}"]
    if args.samples:
        out.append(f"--samples={args.samples}")
    return out


def _machine_class(found: Any, config: Config) -> str:
    """The class a run on these servers is filed under (the sides stamp the same one)."""
    from julia import db
    from julia.perf.engine.results import machine_class

    async def major() -> int:
        conn = await db.connect(found.database_url)
        try:
            return int(await conn.fetchval("SHOW server_version_num")) // 10000
        finally:
            await conn.close()

    return machine_class(asyncio.run(major()), found.topology, config.project.variables)


def _calibrated_budgets(config: Config, machine: str) -> tuple[Any, str]:
    """(the budgets to judge by, the run's first line): a class never calibrated gets conservative
    thresholds, not those another class's calibration chose."""
    from julia.perf.engine import calibration
    from julia.perf.engine.gate import load_budgets

    budgets = load_budgets(config.budgets)
    calibrated = calibration.load(config.calibration, machine)
    if calibrated is None:
        return budgets.conservative(), calibration.uncalibrated(machine, budgets, config.project.command)
    return budgets, calibration.calibrated(machine, calibrated)


def _run(args: argparse.Namespace) -> int:
    from julia import runtime
    from julia.perf.engine import ab, base_choice

    config = _config(args)
    base = base_choice.choose(config.root, args.base)
    results = args.results or config.results
    extra = (f"--inject-regression={args.inject_regression}",) if args.inject_regression else ()
    with runtime.find_servers(Settings(), throwaway=True) as found:
        budgets, line = _calibrated_budgets(config, _machine_class(found, config))
        print(f"perf: {line}", flush=True)
        run = ab.run(
            config.root,
            found,
            _pytest_args(args),
            results,
            base_ref=base.ref,
            base_why=base.why,
            project=config.project,
            turn_modules=config.turn_modules,
            server_applications=config.server_applications,
            owns_server=found.database_origin != "url",
            topology=found.topology,
            head_extra=extra,
            alone=args.no_base,
            extra_blocks=budgets.extra_blocks(),
        )
    print(f"perf: {len(run.benches)} benchmarks written to {results}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from julia import runtime
    from julia.perf.engine import calibration

    config = _config(args)
    factors = [float(f) for f in args.factors.split(",") if f.strip()]
    with runtime.find_servers(Settings(), throwaway=True) as found:
        path = calibration.calibrate(
            config,
            found,
            [f"--doctors={args.doctors}"],
            args.runs,
            factors,
            args.out,
            args.injected,
            owns_server=found.database_origin != "url",
            topology=found.topology,
        )
    print(f"calibration written: {path}")
    return 0


def _load(path: Path, config: Config) -> Any:
    """The results at `path`; a run recorded before its stamp named its project is this checkout's."""
    from julia.perf.engine.results import Run

    if not path.is_file():
        raise JuliaError(f"no results at {path}: run `nox -s perf` (or `julia perf run`) first")
    try:
        run = Run.load(path)
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise JuliaError(
            f"{path} is not a perf results file ({type(exc).__name__}: {exc}): pass the results.json "
            "that `nox -s perf` writes (reports/out/results.json)"
        ) from exc
    run.stamp.setdefault("project", config.project.said())
    return run


@dataclass(frozen=True)
class _Judged:
    verdicts: list[Any]
    baseline: Any
    calibration: dict[str, Any] | None
    line: str  # what the class's calibration says, first

    @property
    def uncalibrated(self) -> str:
        return "" if self.calibration else self.line


def _judge(config: Config, run: Any, *, quiet: bool = False) -> _Judged:
    """A run judged as the gate judges it: its class's budgets (conservative when never calibrated),
    its base, and the stored baseline when it is at the run's scale."""
    from julia.perf.engine import calibration as calibrations
    from julia.perf.engine.baseline import load_baseline
    from julia.perf.engine.gate import judge

    machine = run.stamp["machine_class"]
    budgets, line = _calibrated_budgets(config, machine)
    baseline = load_baseline(config.baselines, machine)
    if baseline and baseline.stamp.get("doctors") != run.stamp.get("doctors"):
        scales = f"{baseline.stamp.get('doctors')} doctors, this run at {run.stamp.get('doctors')}"
        if not quiet:
            print(f"baseline is at {scales}: timings are not compared")
        baseline = None
    return _Judged(
        judge(run, budgets, baseline), baseline, calibrations.load(config.calibration, machine), line
    )


def _gate(args: argparse.Namespace) -> int:
    from julia.perf.engine import history, report
    from julia.perf.engine.gate import failed

    config = _config(args)
    run = _load(args.results or config.results, config)
    judged = _judge(config, run)
    print(f"perf gate: {judged.line}")
    verdicts = judged.verdicts
    record = history.append if args.record_history else history.current
    lines = record(config.history, run, verdicts)
    explain = [v.name for v in verdicts if v.name in run.benches] if ALL in args.explain else args.explain
    unknown = sorted(set(explain) - {v.name for v in verdicts})
    if unknown:
        raise JuliaError(
            f"--explain: no benchmark named {', '.join(unknown)} in {args.results or config.results}"
        )
    written = report.render(
        run,
        verdicts,
        judged.baseline,
        lines,
        args.out or config.out,
        judged.calibration,
        explain=explain,
        uncalibrated=judged.uncalibrated,
    )
    print(report.terminal(verdicts, run, explain))
    verdict = "FAILED" if failed(verdicts) else "passed"
    against = "none for " + run.stamp["machine_class"] if judged.baseline is None else "yes"
    print(f"perf gate {verdict}; baseline: {against}; report: {written.page}")
    print(f"summary (for $GITHUB_STEP_SUMMARY): {written.summary}")
    print(f"exports with the verdict: {written.export} (pytest-benchmark), {written.bencher} (Bencher)")
    return 1 if failed(verdicts) else 0


def capacity_line(run: Any, verdicts: list[Any]) -> str:
    """The capacity storm's verdict in one line: its benchmarks in the run (julia.testing.capacity.
    benches), judged with the others; what it measured, and its likely cause when it failed."""
    from julia.perf.engine import words
    from julia.testing.capacity import benches
    from julia.testing.capacity.__main__ import against_floor

    judged = [v for v in verdicts if v.group == benches.GROUP]
    storm = run.benches.get(benches.GATE.storm)
    if storm is None or not judged:
        return "not run (no capacity benchmarks in these results): the perf run stopped before it"
    c = storm.counters
    failed = [v for v in judged if v.failed]
    said = [
        f"{c['answered']}/{c['messages']} answered, time-to-reply p99 "
        f"{c['p99_over_claude_ms'] / 1000:+.2f} s from Claude's ({c['claude_p99_ms'] / 1000:.2f} s)",
        against_floor(c.get("storm", {})).removesuffix("; "),
    ]
    if not failed:
        warned = [f"{v.name}: {words.reason(v)}" for v in judged if v.status == "warn"]
        return "; ".join(p for p in ["passed", *said, *warned] if p)
    reasons = "; ".join(f"{v.name}: {words.reason(v)}" for v in failed)
    cause = next((str(line) for line in c.get("said", ()) if str(line).startswith("likely cause")), "")
    return "; ".join(p for p in (f"**FAILED**: {reasons}", *said, cause) if p)


def _comment(args: argparse.Namespace) -> int:
    from julia.perf.engine import comment

    config = _config(args)
    run = _load(args.results or config.results, config)
    judged = _judge(config, run, quiet=True)
    text = comment.markdown(
        run,
        judged.verdicts,
        capacity=capacity_line(run, judged.verdicts),
        link=args.link,
        uncalibrated=judged.uncalibrated,
    )
    out: Path = args.out or config.out / "comment.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"pull-request comment written: {out}")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from julia.perf.engine.baseline import write_baseline

    config = _config(args)
    path = write_baseline(config.baselines, _load(args.results or config.results, config), args.why, args.who)
    print(f"baseline written: {path}")
    return 0


def _changes(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("otava") is None:
        raise JuliaError("julia perf changes needs Apache Otava: pip install --no-deps 'apache-otava>=0.8'")
    from julia.perf.engine import changes, history_page

    config = _config(args)
    machine, lines = _history_lines(args, config)
    if args.since:
        starts = [
            i for i, line in enumerate(lines) if str(line.get("git_commit") or "").startswith(args.since)
        ]
        if not starts:
            raise JuliaError(f"--since {args.since}: no run of that commit in the history")
        lines = lines[starts[0] :]
    last = args.last or changes.DRIFT_LINKS
    budget = args.budget or changes.DRIFT_BUDGET
    found, drifts = changes.report(lines, last, budget)
    print(f"{machine}: " + changes.text(found, drifts, len(lines), budget))
    page = history_page.render(lines, machine, found, drifts, args.out or config.out, _commit_url(args))
    print(f"history page: {page}")
    return 0


def _commit_url(args: argparse.Namespace) -> str | None:
    """--commit-url, else on GitHub Actions the repository's commit page."""
    if args.commit_url:
        return str(args.commit_url)
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repository}/commit/{{}}" if server and repository else None


def _find(args: argparse.Namespace) -> int:
    from julia import runtime
    from julia.perf.engine import bisect, find
    from julia.perf.engine.vcs import git

    config = _config(args)
    good, commits = find.first_parent(config.root, args.good, args.bad)
    pytest_args = _pytest_args(args) + (["-k", args.select] if args.select else [])
    print(
        f"find: {len(commits)} commits after {good[:12]} up to {args.bad}; at most "
        f"{bisect.budget(len(commits))} A/B runs when every step decides"
    )
    with runtime.find_servers(Settings(), throwaway=True) as found_services:
        oracle = find.ABOracle(
            config,
            found_services,
            pytest_args,
            retry_args=[f"--samples={2 * (args.samples or SAMPLES)}"],
            bench=args.bench,
            owns_server=found_services.database_origin != "url",
        )
        found = bisect.bisect(commits, good, oracle)
    print(f"find: {oracle.runs} A/B runs; {oracle.bench or 'no benchmark'}: {found.why}")
    if found.culprit is not None:
        print(f"culprit: {git(config.root, 'log', '-1', '--format=%h %s', found.culprit)}")
        for line in found.confirmation.evidence if found.confirmation else ():
            print(f"  beside the time: {line}")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from julia.perf.engine import scale
    from julia.perf.engine.gate import load_budgets
    from julia.perf.engine.report import fmt

    config = _config(args)
    out: Path = args.out or config.out
    slopes = scale.fit([_load(path, config) for path in args.runs], load_budgets(config.budgets))
    frame = scale.table(slopes)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "scale.csv", index=False)
    chart = scale.chart(slopes, out / "scale.png")
    print(frame.to_string(index=False, float_format=fmt, na_rep="-"))
    bad = [s.bench for s in slopes if s.failed]
    verdict = "FAILED: " + ", ".join(bad) + " stopped being flat" if bad else "passed"
    print(f"perf scale {verdict}; chart: {chart}")
    return 1 if bad else 0


def _analyze(args: argparse.Namespace) -> int:
    from julia import runtime

    settings = Settings()
    url = args.database_url or settings.database_url
    if url:
        if args.doctors:
            raise JuliaError("--doctors seeds only a server julia starts itself, never a given database")
        print(asyncio.run(_analyze_url(url, args.repeat, 0)))
        return 0
    with runtime.find_servers(settings, throwaway=True) as found:
        print(asyncio.run(_analyze_url(found.database_url, args.repeat, args.doctors, migrate_first=True)))
    return 0


async def _analyze_url(url: str, repeat: int, doctors: int, *, migrate_first: bool = False) -> str:
    from julia import db
    from julia.perf.analyze import analyze, render

    conn = await db.connect(url)
    try:
        if migrate_first:
            from julia.migrate import migrate

            await migrate(conn)
        if doctors:
            from julia.seed import seed

            await seed(conn, doctors)
            await conn.execute("VACUUM ANALYZE")
        return render(await analyze(conn, repeat))
    finally:
        await conn.close()
