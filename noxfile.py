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
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy --strict."""
    session.install("-e", ".[test,perf,lint]", "nox")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
