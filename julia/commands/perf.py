"""`julia perf`: the perf suite's commands (they need the `perf` extra: pip install -e '.[perf]').

The glue between julia and its perf engine (julia.perf.engine, which knows nothing of julia): this module
finds perf/perf.toml, resolves the servers and hands the engine the paths, servers and commit it needs.

run        measure the head against its base in the same run (julia.perf.engine.ab) into results.json
calibrate  A/A and injected slowdowns, many runs: each benchmark's false failures and smallest catch
analyze    the critical queries against any database (the seed's analisar_queries)
gate       judge a run (perf.toml's out/results.json) against budgets, its base and the baseline; render
baseline   make a run the baseline of its machine class, saying why
scale      fit the log-log slope of each query over runs at several scales
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from julia.errors import JuliaError
from julia.perf.engine.errors import PerfError
from julia.settings import Settings

if TYPE_CHECKING:
    from julia.perf.engine.config import Config

# What the `perf` extra brings (pyproject.toml), by import name.
PERF_MODULES = ("numpy", "pandas", "scipy", "matplotlib", "pytest_benchmark")
# The defaults of --results and --out, as help shows them (julia's perf.toml: out = reports/out).
RESULTS = "perf.toml's out/results.json"
OUT = "perf.toml's out"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "perf",
        help="the perf suite's tools: analyze, gate, baseline, scale (needs pip install -e '.[perf]')",
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
        help="append this run to <history>/<class>.jsonl (CI on main; a plain run leaves git clean)",
    )
    gate.add_argument(
        "--explain",
        action="append",
        default=[],
        metavar="NAME",
        help="find the likely cause of this benchmark whatever its status (repeatable); failed, "
        "inconclusive and warned ones are always explained",
    )
    _config_option(gate)
    gate.set_defaults(run=_with_extras(_gate))

    baseline = perf_sub.add_parser("baseline", help="store a run as its machine class's baseline")
    baseline.add_argument("--why", required=True, help="why the baseline moves (kept in the file)")
    baseline.add_argument("--who", default=None, help="default: GIT_AUTHOR_NAME, else the user")
    baseline.add_argument(
        "--results", type=Path, default=None, help=f"the run to store as the baseline (default {RESULTS})"
    )
    _config_option(baseline)
    baseline.set_defaults(run=_with_extras(_baseline))

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


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--doctors", type=int, default=1000, help="synthetic doctors per side (default 1000)")
    parser.add_argument(
        "--base",
        default=None,
        help="the commit to compare with (default: the one the stored baseline names; a PR: its merge-base)",
    )
    parser.add_argument("--no-base", action="store_true", help="measure the head alone (budgets only)")
    parser.add_argument(
        "--inject-regression",
        choices=["drop-index", "sleep", "extra-query"],
        default=None,
        help="slow the head down on purpose, to see the gate fail",
    )
    parser.add_argument(
        "--samples", type=int, default=None, help="timed samples per warm benchmark (default 2000)"
    )
    parser.add_argument("--results", type=Path, default=None, help=f"where the run goes (default {RESULTS})")
    _config_option(parser)


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


def _run(args: argparse.Namespace) -> int:
    from julia import runtime
    from julia.perf.engine import ab
    from julia.perf.engine.baseline import load_baseline_commit
    from julia.perf.engine.gate import load_budgets

    config = _config(args)
    results = args.results or config.results
    extra = (f"--inject-regression={args.inject_regression}",) if args.inject_regression else ()
    with runtime.services(Settings()) as found:
        run = ab.run(
            config.root,
            found,
            _pytest_args(args),
            results,
            base_ref=args.base,
            baseline_commit=load_baseline_commit(config.baselines),
            turn_modules=config.turn_modules,
            server_applications=config.server_applications,
            owns_server=found.database_origin != "url",
            head_extra=extra,
            alone=args.no_base,
            extra_blocks=load_budgets(config.budgets).extra_blocks(),
        )
    print(f"perf: {len(run.benches)} benchmarks written to {results}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from julia import runtime
    from julia.perf.engine import calibration

    config = _config(args)
    factors = [float(f) for f in args.factors.split(",") if f.strip()]
    with runtime.services(Settings()) as found:
        path = calibration.calibrate(
            config,
            found,
            [f"--doctors={args.doctors}"],
            args.runs,
            factors,
            args.out,
            args.injected,
            owns_server=found.database_origin != "url",
        )
    print(f"calibration written: {path}")
    return 0


def _load(path: Path) -> Any:
    from julia.perf.engine.results import Run

    if not path.is_file():
        raise JuliaError(f"no results at {path}: run `nox -s perf` (or `julia perf run`) first")
    try:
        return Run.load(path)
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise JuliaError(
            f"{path} is not a perf results file ({type(exc).__name__}: {exc}): pass the results.json "
            "that `nox -s perf` writes (reports/out/results.json)"
        ) from exc


def _gate(args: argparse.Namespace) -> int:
    from julia.perf.engine import history, report
    from julia.perf.engine.baseline import load_baseline
    from julia.perf.engine.gate import failed, judge, load_budgets

    config = _config(args)
    run = _load(args.results or config.results)
    budgets = load_budgets(config.budgets)
    baseline = load_baseline(config.baselines, run.stamp["machine_class"])
    if baseline and baseline.stamp.get("doctors") != run.stamp.get("doctors"):
        scales = f"{baseline.stamp.get('doctors')} doctors, this run at {run.stamp.get('doctors')}"
        print(f"baseline is at {scales}: timings are not compared")
        baseline = None
    verdicts = judge(run, budgets, baseline)
    record = history.append if args.record_history else history.current
    lines = record(config.history, run, verdicts)
    calibrated = config.calibration / f"{run.stamp['machine_class']}.json"
    calibration = json.loads(calibrated.read_text()) if calibrated.is_file() else None
    unknown = sorted(set(args.explain) - {v.name for v in verdicts})
    if unknown:
        raise JuliaError(
            f"--explain: no benchmark named {', '.join(unknown)} in {args.results or config.results}"
        )
    written = report.render(
        run, verdicts, baseline, lines, args.out or config.out, calibration, explain=args.explain
    )
    print(report.terminal(verdicts, run, args.explain))
    verdict = "FAILED" if failed(verdicts) else "passed"
    against = "none for " + run.stamp["machine_class"] if baseline is None else "yes"
    print(f"perf gate {verdict}; baseline: {against}; report: {written.page}")
    print(f"summary (for $GITHUB_STEP_SUMMARY): {written.summary}; pytest-benchmark JSON: {written.export}")
    return 1 if failed(verdicts) else 0


def _baseline(args: argparse.Namespace) -> int:
    from julia.perf.engine.baseline import write_baseline

    config = _config(args)
    path = write_baseline(config.baselines, _load(args.results or config.results), args.why, args.who)
    print(f"baseline written: {path}")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from julia.perf.engine import scale
    from julia.perf.engine.gate import load_budgets
    from julia.perf.engine.report import fmt

    config = _config(args)
    out: Path = args.out or config.out
    slopes = scale.fit([_load(path) for path in args.runs], load_budgets(config.budgets))
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
    with runtime.services(settings) as found:
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
