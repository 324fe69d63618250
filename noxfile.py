"""The sessions people run: `nox -s tests`, `nox -s perf`, `nox -s lint`.

Every session installs julia (editable, so migrations/ and fixtures/ are read from the checkout) into its
own virtualenv; nothing but Python 3.11+ and nox is needed on the machine.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"
# uv when ./nox installed it beside nox (seconds per session instead of a minute of pip), else virtualenv.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True


def _install_otava(session: nox.Session) -> None:
    """Apache Otava (`julia perf changes`, julia/perf/engine/changes.py) without its dependencies: it pins
    numpy==2.2.* and scipy<1.17 exactly and brings the clients of its own CLI (BigQuery, Slack, Postgres),
    while the E-divisive modules julia imports need only numpy and scipy, which the perf extra has
    (checked by tests/unit/test_perf_changes.py). pyproject's `history` extra names it."""
    session.install("--no-deps", "apache-otava>=0.8")


@nox.session
def tests(session: nox.Session) -> None:
    """Functional, integration, migration and acceptance tests against real Postgres and Redis. The perf
    extra comes along: the gate's statistics and its report (pandas, matplotlib) are tested too."""
    session.install("-e", ".[test,perf]")
    _install_otava(session)
    session.run("pytest", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """The perf gate: the head against its base commit in the same run (`julia perf run`: one database
    per side on the same servers, interleaved turns), judged against perf/budgets.toml, rendered to
    reports/out/. `-- --doctors=N`, `-- --base REF`; `-- --inject-regression=drop-index|sleep|extra-query`
    must fail. `-- --record-history` (runs on main: .ci/run, the workflow) also appends the run to
    reports/history/. Between the two, the capacity storm (about a minute: the real processes answering a
    short storm) adds its benchmarks to the same results, judged by the same gate."""
    session.install("-e", ".[perf]")
    _install_otava(session)
    results = "reports/out/results.json"
    record = [a for a in session.posargs if a == "--record-history"]
    run = [a for a in session.posargs if a != "--record-history"]
    session.run("julia", "perf", "run", f"--results={results}", *run)
    try:
        # The storm's benchmarks join the run's results, judged below with every other benchmark by the one
        # gate, which renders the report even when the storm could not run (its benchmarks then missing).
        session.run("python", "-m", "julia.testing.capacity", "--gate", f"--results={results}")
    finally:
        session.run("julia", "perf", "gate", "--results", results, *record)


@nox.session(name="perf-calibrate")
def perf_calibrate(session: nox.Session) -> None:
    """The gate's accuracy: A/A runs and runs with a slowdown injected (`-- --runs 20`); long work (each
    run is a whole A/B run), writes perf/calibration/<machine class>.json."""
    session.install("-e", ".[perf]")
    session.run("julia", "perf", "calibrate", *session.posargs)


@nox.session(name="perf-scale")
def perf_scale(session: nox.Session) -> None:
    """How each critical query grows with the doctors: 1k, 10k, 100k, 1M (or `-- 1000 10000`), log-log slope.
    An index query must stay flat; `julia perf scale` fails otherwise."""
    session.install("-e", ".[perf]")
    sizes = session.posargs or ["1000", "10000", "100000", "1000000"]
    runs = [f"reports/out/scale/{size}.json" for size in sizes]
    for size, results in zip(sizes, runs, strict=True):
        session.run(
            "pytest",
            "perf/test_floors.py",
            "perf/test_queries.py",
            "-p",
            "no:cacheprovider",
            f"--doctors={size}",
            f"--results={results}",
        )
    session.run("julia", "perf", "scale", *runs)


@nox.session(name="perf-capacity")
def perf_capacity(session: nox.Session) -> None:
    """Real `julia serve` + `julia worker` against fake Claude (median 2 s / p99 8 s) and Evolution: a
    campaign storm of 1,000 doctors in 60 s and 10,000 in 300 s, with 1, 2 and 4 workers (or `-- ARGS` of
    `python -m julia.testing.capacity`). Writes the perf engine's results and report (index.html) to
    reports/out/capacity/, judged by its gate against perf/budgets.toml: fails on lost/doubled replies."""
    session.install("-e", ".[perf]")
    matrix = ["--doctors", "1000", "10000", "--window", "60", "300", "--workers", "1", "2", "4"]
    session.run("python", "-m", "julia.testing.capacity", *(session.posargs or matrix))


@nox.session
def faults(session: nox.Session) -> None:
    """The fault suite: real `julia serve` + `julia worker` processes, embedded Postgres/Valkey and the fake
    third parties, with workers killed, Postgres and Redis stopped, Claude and Evolution failing, a
    webhook fuzzer (1,000 bodies; `-- --long` for 10,000), unauthenticated 100 MB bodies on every route,
    a /metrics scrape loop, `serve` without DATABASE_URL and a flood from one number. A few minutes."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/faults", "-m", "faults", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict."""
    session.install("-e", ".[test,perf,lint]", "nox")
    _install_otava(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The operations docs against the code: every command, curl call, SQL and Redis command in docs/*.md
    runs (tests/docs), and a Compose implementation must accept docker-compose.yml (Debian's
    `docker-compose` package, or Docker's compose plugin)."""
    # perf too: the docs run `julia perf analyze` (docs/performance.md), as the tests session does.
    session.install("-e", ".[test,perf]")
    session.run("pytest", "tests/docs", "tests/service/test_pause.py", *session.posargs, env={"CI": "true"})


@nox.session
def dev(session: nox.Session) -> None:
    """The README's "Try it": `julia dev` (API, worker, seeded doctors, fake Evolution and Claude) until
    Ctrl-C; `-- --doctors N` and the like are passed on."""
    session.install("-e", ".[dev]")
    session.run("julia", "dev", *session.posargs)
