"""The sessions people run: `nox -s tests`, `nox -s perf`, `nox -s lint`.

Every session installs julia (editable, so migrations/ and fixtures/ are read from the checkout) into its
own virtualenv; nothing but Python 3.11+ and nox is needed on the machine.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """Functional, integration, migration and acceptance tests against real Postgres and Redis."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """The perf gate: seed 1,000 doctors (`-- --doctors=N`), measure, judge against perf/budgets.toml and the
    machine class's baseline, render reports/out/.
    `-- --inject-regression=drop-index|sleep|extra-query` must fail."""
    session.install("-e", ".[perf]")
    results = "reports/out/results.json"
    session.run("pytest", "perf", "-p", "no:cacheprovider", f"--results={results}", *session.posargs)
    session.run("julia", "perf", "gate", "--results", results)


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


@nox.session
def faults(session: nox.Session) -> None:
    """The fault suite: real `julia serve` + `julia worker` processes, embedded Postgres/Valkey and the fake
    third parties, with workers killed, Postgres and Redis stopped, Claude and Evolution failing, and a
    webhook fuzzer (1,000 bodies; `-- --long` for 10,000). A few minutes."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/faults", "-m", "faults", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict."""
    session.install("-e", ".[test,perf,lint]", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The operations docs against the code: every command, curl call, SQL and Redis command in docs/*.md
    runs (tests/docs), and a Compose implementation must accept docker-compose.yml (Debian's
    `docker-compose` package, or Docker's compose plugin)."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/docs", "tests/service/test_pausa.py", *session.posargs, env={"CI": "true"})
