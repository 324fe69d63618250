"""`python -m julia.testing.capacity.wrk`: how many webhooks one `julia serve` ingests, driven by wrk (a C
load generator, Debian's `wrk` package) instead of the capacity tool's Python driver, whose own CPU
neared a core and measured itself (issue 35, point 6).

`julia serve` alone (no worker: nothing answers), on a database seeded with `--doctors` doctors; wrk
posts real Evolution `messages.upsert` bodies of those doctors, each with a message id unique to the run
(upsert.lua), on `--connections` keep-alive connections for `--duration` seconds. wrk is closed-loop:
each connection sends its next request when the last is answered, so this is the throughput julia
holds at that concurrency, and the latencies are those of a server kept busy, not of an open-loop
arrival rate. Beside julia's: wrk's own CPU (a generator near a whole core would be measuring itself),
and Postgres's. Every 2xx must be in Postgres with its work row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from julia import db, servers
from julia.seed.database import seeded_database
from julia.settings import Settings
from julia.testing.capacity import cohort, processes

DATABASE = "julia_capacidade_wrk"
KEY = "capacidade"
SCRIPT = Path(__file__).with_name("upsert.lua")
MARK = "WRKJSON "
STORED = """
SELECT count(*) FROM interacoes i JOIN entradas e ON e.interacao_id = i.id
WHERE i.whatsapp_message_id LIKE $1
"""


def read_output(output: str) -> dict[str, Any]:
    """The summary upsert.lua's done() prints, from wrk's output; a clear error when it is missing."""
    for output_line in output.splitlines():
        if output_line.startswith(MARK):
            raw = json.loads(output_line.removeprefix(MARK))
            errors = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout")}
            seconds = int(raw["duration_us"]) / 1e6
            accepted = int(raw["requests"]) - errors["status"]
            return {
                "requisicoes": int(raw["requests"]),
                "segundos": round(seconds, 2),
                "aceitas": accepted,
                "aceitas_por_s": round(accepted / seconds, 1) if seconds else 0.0,
                "erros": errors,
                "latencia_ms": {
                    p: round(int(raw[f"{p.replace('.', '')}_us"]) / 1000, 2)
                    for p in ("p50", "p90", "p99", "p99.9", "max")
                    if f"{p.replace('.', '')}_us" in raw  # p99.9: since the open-loop runs (open_loop.py)
                },
            }
    raise RuntimeError(f"wrk printed no {MARK.strip()} line: {output[-300:]!r}")


def failures(r: dict[str, Any]) -> list[str]:
    """Why the run fails: a 2xx not in Postgres, or errors (non-2xx, timeouts, broken connections)."""
    reasons = []
    if r["aceitas"] > r["gravadas"]:
        reasons.append(f"{r['aceitas'] - r['gravadas']} webhooks answered 2xx but not in Postgres")
    if any(r["erros"].values()):
        reasons.append(f"errors: {r['erros']}")
    return reasons


def summary_line(r: dict[str, Any]) -> str:
    cpu, ms = r["cpu_pct"], r["latencia_ms"]
    return (
        f"wrk {r['conexoes']} connections, {r['segundos']} s: {r['aceitas']} accepted "
        f"({r['aceitas_por_s']}/s), {r['gravadas']} stored; latency p50 {ms['p50']} p90 {ms['p90']} "
        f"p99 {ms['p99']} max {ms['max']} ms; CPU % of a core: serve {cpu['serve']}, postgres "
        f"{cpu['postgres']}, wrk {cpu['wrk']}; load {r['carga_maquina']}"
    )


async def _prepare(url: str, doctors: int) -> tuple[str, list[str]]:
    dsn, _ = await seeded_database(url, DATABASE, doctors + doctors // 2 + 10)
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.answerable(conn, doctors)
    finally:
        await conn.close()
    return dsn, telefones


async def _count(dsn: str, prefix: str) -> tuple[int, int | None]:
    conn = await db.connect(dsn)
    try:
        stored = int(await conn.fetchval(STORED, cohort.whatsapp_id(prefix) + "%"))
        postmaster = processes.parent(int(await conn.fetchval("SELECT pg_backend_pid()")))
        return stored, postmaster
    finally:
        await conn.close()


def measure(
    found_servers: servers.Servers, doctors: int, connections: int, duration_s: int, folder: Path
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    folder.mkdir(parents=True, exist_ok=True)
    bodies = folder / "bodies.jsonl"
    dsn, telefones = asyncio.run(_prepare(found_servers.database_url, doctors))
    bodies.write_text("".join(json.dumps(cohort.webhook(t, "@ID@")) + "\n" for t in telefones))
    port = processes.free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": found_servers.redis_url,
        "EVOLUTION_API_KEY": KEY,
        "EVOLUTION_WEBHOOK_SENDING_KEY": "true",  # wrk posts the `apikey` header
        "LOG_LEVEL": "WARNING",
    }
    serve = processes.start("serve", ["serve", "--port", str(port)], environment, folder)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/health", serve)
        prefix = f"W{uuid.uuid4().hex[:6].upper()}"
        _, postmaster = asyncio.run(_count(dsn, prefix))
        before = _cpu(serve.pid, postmaster)
        load_avg = Path("/proc/loadavg").read_text().split()[0]
        output = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{duration_s}s",
                "-s",
                str(SCRIPT),
                f"http://127.0.0.1:{port}",
            ],
            env={**os.environ, "WRK_BODIES": str(bodies), "WRK_PREFIX": prefix, "WRK_APIKEY": KEY},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = _cpu(serve.pid, postmaster)
        result = read_output(output)
        result["gravadas"], _ = asyncio.run(_count(dsn, prefix))
    finally:
        serve.stop()
    seconds = result["segundos"] or 1.0
    result["cpu_pct"] = {k: round(100 * (after[k] - before[k]) / seconds, 1) for k in after}
    result["conexoes"] = connections
    result["carga_maquina"] = f"{load_avg} -> {Path('/proc/loadavg').read_text().split()[0]}"
    return result


def _cpu(serve: int, postmaster: int | None) -> dict[str, float]:
    """CPU seconds so far: julia serve's, Postgres's (all its processes) and wrk's (this process's
    reaped children: wrk is the only one run between two readings)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "serve": processes.cpu_s(serve, children=True) or 0.0,
        "postgres": (processes.cpu_s(postmaster, children=True) or 0.0) if postmaster else 0.0,
        "wrk": children.ru_utime + children.ru_stime,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m julia.testing.capacity.wrk", description=__doc__)
    parser.add_argument("--doctors", type=int, default=1000, help="distinct doctors writing (default 1,000)")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[16], help="wrk connections (default 16)"
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per run (default 20)")
    parser.add_argument("--out", type=Path, default=Path("reports/out/capacity-wrk.json"))
    args = parser.parse_args(argv)
    settings = Settings()
    results_, reasons = [], []
    with (
        servers.resolve(settings.database_url, settings.redis_url) as found,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for connections in args.connections:
            r = measure(found, args.doctors, connections, args.duration, Path(tmp) / str(connections))
            results_.append(r)
            reasons += failures(r)
            print(summary_line(r), flush=True)
    return write_runs(args.out, results_, reasons)


def write_runs(out: Path, runs: list[dict[str, Any]], reasons: list[str]) -> int:
    """An ingestion run's end (this one's and open_loop's): its runs as JSON at `out`, each reason it
    fails on stderr; its exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(runs, indent=1))
    for reason in reasons:
        print(f"FAIL {reason}", file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
