"""The `julia` CLI as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import os
import subprocess
import sys

from julia import db, servers
from julia.migrate import discover


def julia(
    *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-m", "julia", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**inherited, **(env or {})},
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = julia("--help")
    assert result.returncode == 0
    assert "migrate" in result.stdout
    assert "DATABASE_URL" in result.stdout


async def test_migrate_against_a_given_database_then_again_is_a_no_op(services: servers.Servers) -> None:
    env = {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    dsn = await db.fresh_database(services.database_url, "julia_cli", migrated=False)
    first = julia("migrate", env={**env, "DATABASE_URL": dsn})
    second = julia("migrate", env={**env, "DATABASE_URL": dsn})
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"applied {len(discover())} migration(s): 0001_schema.sql")
    assert second.returncode == 0, second.stderr
    assert "schema is current" in second.stdout


def test_unreachable_database_is_one_readable_line_and_a_non_zero_exit() -> None:
    result = julia("migrate", env={"DATABASE_URL": "postgresql://julia:secret@127.0.0.1:1/julia"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("julia: cannot reach Postgres at postgresql://julia:***@127.0.0.1:1/julia")
    assert "secret" not in result.stderr


def test_perf_find_starts_its_own_servers_as_the_perf_suite_does() -> None:
    """`julia perf find` measures like `julia perf run`: with no URL it starts throwaway servers. It once
    demanded DATABASE_URL like `julia serve`, and every bisection stopped before its first A/B run."""
    result = julia("perf", "find", "HEAD", "HEAD", "-k", "query_warm", unset=("DATABASE_URL", "REDIS_URL"))
    assert result.returncode == 0, result.stderr
    assert "no commits between GOOD and BAD" in result.stdout
