"""What a newcomer gets wrong first, and what julia answers: one readable line that says what to do, a
non-zero exit, never a traceback. Each case runs `julia` as a user does (a subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.acceptance.test_cli import julia

CLOSED = "postgresql://julia:secret@127.0.0.1:1/julia"  # port 1: nothing listens there


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [["--bogus"], ["seed", "--bogus"], ["perf", "gate", "--bogus"]])
def test_an_unknown_flag_is_named(args: list[str]) -> None:
    result = julia(*args)
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


def test_a_missing_required_option_is_still_said_beside_the_unknown_one() -> None:
    result = julia("seed", "--bogus")
    assert "the following arguments are required: --doctors" in result.stderr


@pytest.mark.parametrize("command", ["seed", "dev"])
def test_a_negative_doctor_count_is_refused_before_any_server_starts(command: str) -> None:
    # DATABASE_URL on a closed port: a command that tried to reach a server would say so instead.
    result = julia(command, "--doctors", "-1", env={"DATABASE_URL": CLOSED})
    assert result.returncode == 1
    assert one_line(result) == "julia: --doctors must be between 1 and 10,000,000, not -1"
    assert result.stdout == ""


def test_serve_with_postgres_unreachable_is_one_line() -> None:
    result = julia(
        "serve",
        env={
            "DATABASE_URL": CLOSED,
            "REDIS_URL": "redis://x",
            "EVOLUTION_API_KEY": "k",
            "EVOLUTION_WEBHOOK_SECRET": "s",
        },
    )
    assert result.returncode == 1
    assert one_line(result).startswith("julia: cannot reach Postgres at postgresql://julia:***@127.0.0.1:1")


def test_serve_without_a_webhook_proof_refuses_to_start_in_one_line() -> None:
    """Issue 34: no EVOLUTION_WEBHOOK_SECRET and no explicit EVOLUTION_WEBHOOK_SENDING_KEY: serve would
    refuse every webhook (or, before, take the sending key as proof); it stops before reaching Postgres."""
    env = {"DATABASE_URL": CLOSED, "REDIS_URL": "redis://x", "EVOLUTION_API_KEY": "k"}
    result = julia("serve", env={**env, "EVOLUTION_WEBHOOK_SECRET": ""})  # empty is unset
    assert result.returncode == 1
    assert one_line(result).startswith("julia: missing required setting: EVOLUTION_WEBHOOK_SECRET (")
    # Said explicitly, the sending key may be the proof: serve goes on (to the closed Postgres here).
    result = julia(
        "serve", env={**env, "EVOLUTION_WEBHOOK_SECRET": "", "EVOLUTION_WEBHOOK_SENDING_KEY": "true"}
    )
    assert one_line(result).startswith("julia: cannot reach Postgres")


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"DB_POOL_MAX": "abc"},
            "julia: invalid setting DB_POOL_MAX: Input should be a valid integer, unable to parse string as "
            "an integer (got 'abc')",
        ),
        (
            {"CAMPANHA_HORA_INICIO": "8", "CAMPANHA_HORA_FIM": "8"},
            "julia: invalid settings: CAMPANHA_HORA_INICIO and CAMPANHA_HORA_FIM are equal: use 0 and 24 "
            "for always",
        ),
    ],
)
def test_a_setting_the_environment_got_wrong_is_named_in_one_line(env: dict[str, str], said: str) -> None:
    result = julia("health", env={"DATABASE_URL": CLOSED, **env})
    assert result.returncode == 1
    assert one_line(result) == said


def test_perf_analyze_against_a_closed_port_is_one_line() -> None:
    result = julia("perf", "analyze", "--database-url", CLOSED)
    assert result.returncode == 1
    assert one_line(result).startswith("julia: cannot reach Postgres at")


def test_perf_gate_on_a_file_that_is_not_results_says_which_file_to_pass() -> None:
    result = julia("perf", "gate", "--results", "README.md")
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("julia: README.md is not a perf results file")
    assert "reports/out/results.json" in line


@pytest.mark.parametrize(
    "args",
    [
        ["analyze"],
        ["gate"],
        ["baseline", "--why", "w"],
        ["scale", "a.json"],
        ["changes"],
        ["find", "HEAD~1", "HEAD"],
    ],
)
def test_every_perf_subcommand_without_the_perf_extras_says_what_to_install(args: list[str]) -> None:
    # `pip install -e .` without `[perf]`, as after the README's "Try it": numpy cannot be imported.
    program = (
        "import sys; sys.modules['numpy'] = None; from julia.cli import main; "
        f"sys.exit(main(['perf', *{args!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert one_line(result) == (
        "julia: julia perf needs the perf extras (numpy not installed): pip install -e '.[perf]'"
    )


def test_perf_changes_without_apache_otava_says_how_to_install_it() -> None:
    program = (
        "import sys; sys.modules['otava'] = None; from julia.cli import main; "
        "sys.exit(main(['perf', 'changes']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert one_line(result) == (
        "julia: julia perf changes needs Apache Otava: pip install --no-deps 'apache-otava>=0.8'"
    )
