"""`python -m julia.testing.capacity.open_loop`: webhook ingestion of one `julia serve`, open-loop, at a
series of arrival rates (issue 35, point 6).

For each rate: a freshly seeded database, one `julia serve` (with the webhook's key, Evolution's
`apikey` header) started as an operator starts it, and, with `--worker`, one `julia worker` beside it as
in production, answering through the fake Claude, Evolution and Chatwoot (a capacity storm's latencies);
then real Evolution `messages.upsert` bodies of seeded doctors, each with a message id unique to the
run, posted at a constant rate for `--duration` seconds whatever the answers (open-loop: latency from
each request's due instant). Per rate: the rate achieved, latency p50/p90/p99/p99.9/max, errors, how
many of the 2xx are in Postgres with their work row (all must be), CPU (% of a core) of serve, the
worker, Postgres, Redis and the generator itself, and serve's peak RSS.

The generator is julia.testing.capacity.generator (Python, in this process), or wrk2 (`--wrk2 PATH`, a
C generator with the same open-loop rule, built from its source: no registry here ships it), driven by
upsert.lua. Either way its own CPU is in the table: a generator near a core measures itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from julia import db, runtime, servers
from julia.metrics import percentile
from julia.perf.engine.ab import with_redis_db
from julia.seed.database import seeded_database
from julia.settings import Settings
from julia.testing import control
from julia.testing.capacity import cohort, generator, processes, wrk
from julia.testing.capacity.load import Scenario, fakes_config, wait_for_pools

DATABASE = "julia_capacidade_aberta"
REDIS_DB = 8  # its own database on a shared Redis, flushed before each rate
KEY = "capacidade"
WARM_UP_S = 5.0  # seconds of webhooks at the rate before the window: serve's pool grown, as in production
WAIT_S = 30.0  # after the last arrival, for the last answers
PERCENTILES = (50, 90, 99, 99.9)


def bodies(telefones: list[str]) -> list[bytes]:
    """One messages.upsert body per doctor, `@ID@` where the message's unique id goes."""
    return [json.dumps(cohort.webhook(t, "@ID@")).encode() for t in telefones]


def requests(port: int, templates: list[bytes], prefix: str) -> generator.Request:
    """Request i: doctor i mod n's body with the id `prefix`x`i`, posted with Evolution's apikey."""
    head = (
        f"POST /webhooks/evolution HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\napikey: {KEY}\r\nContent-Length: "
    ).encode()

    def request(i: int) -> bytes:
        body = templates[i % len(templates)].replace(b"@ID@", f"{prefix}x{i}".encode())
        return head + str(len(body)).encode() + b"\r\n\r\n" + body

    return request


def summarize(m: generator.Measured, rate: float, duration_s: float) -> dict[str, Any]:
    """The generator's measurements as the run's result (what upsert.lua's line gives for wrk2)."""
    accepted = sum(n for s, n in m.status.items() if 200 <= s < 300)
    ordered, latenesses = sorted(m.latency_ms), sorted(m.lateness_ms)
    return {
        "taxa_pedida": rate,
        "requisicoes": m.sent,
        "segundos": round(m.seconds, 2),
        "aceitas": accepted,
        "aceitas_por_s": round(accepted / duration_s, 1),
        "erros": {
            "status": {str(s): n for s, n in sorted(m.status.items()) if not 200 <= s < 300},
            "conexoes_perdidas": m.connections_lost,
        },
        "latencia_ms": _percentiles(ordered),
        "atraso_gerador_ms": _percentiles(latenesses),
        "gerador_cpu_s": round(m.cpu_s, 2),
        # Where in the window the tail was: each second's slowest request (by due instant).
        "max_por_segundo_ms": _max_per_second(m.due_s, m.latency_ms),
    }


def _max_per_second(due_s: list[float], latency_ms: list[float]) -> list[float]:
    worst: dict[int, float] = {}
    for t, ms in zip(due_s, latency_ms, strict=True):
        worst[int(t)] = max(worst.get(int(t), 0.0), ms)
    return [round(worst.get(s, 0.0), 1) for s in range(max(worst, default=-1) + 1)]


def _percentiles(ordered_values: list[float]) -> dict[str, float]:
    if not ordered_values:
        return {}
    output = {f"p{p:g}": round(percentile(ordered_values, p), 2) for p in PERCENTILES}
    output["max"] = round(ordered_values[-1], 2)
    return output


def failures(r: dict[str, Any]) -> list[str]:
    """Why a rate's run fails: a 2xx not in Postgres, or any error."""
    reasons = []
    if r["aceitas"] > r["gravadas"]:
        lost_ones = r["aceitas"] - r["gravadas"]
        reasons.append(f"{r['taxa_pedida']}/s: {lost_ones} answered 2xx but not in Postgres")
    if r["erros"]["status"] or r["erros"]["conexoes_perdidas"]:
        reasons.append(f"{r['taxa_pedida']}/s: errors {r['erros']}")
    return reasons


def summary_line(r: dict[str, Any]) -> str:
    ms, cpu = r["latencia_ms"], r["cpu_pct"]
    lateness = r.get("atraso_gerador_ms", {}).get("p99")
    return (
        f"{r['taxa_pedida']:g}/s asked, {r['aceitas_por_s']}/s accepted ({r['aceitas']} 2xx, "
        f"{r['gravadas']} stored, errors {r['erros']}); latency p50 {ms.get('p50')} p90 {ms.get('p90')} "
        f"p99 {ms.get('p99')} p99.9 {ms.get('p99.9')} max {ms.get('max')} ms"
        + ("" if lateness is None else f" (generator late p99 {lateness} ms)")
        + "; CPU % of a core: "
        + ", ".join(f"{k} {v}" for k, v in cpu.items())
        + f"; serve peak RSS {r['serve_rss_mib']} MiB; load {r['carga_maquina']}"
    )


async def _prepare(url: str, doctors: int, worker: bool) -> tuple[str, list[str], int | None]:
    dsn, _ = await seeded_database(url, DATABASE, doctors + doctors // 2 + 10)
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.answerable(conn, doctors)
        if worker:  # doctors answering a mirrored campaign, as the capacity storms' (load.py)
            await cohort.already_in_chatwoot(conn, telefones)
        postmaster = processes.parent(int(await conn.fetchval("SELECT pg_backend_pid()")))
        return dsn, telefones, postmaster
    finally:
        await conn.close()


async def _stored(dsn: str, prefix: str) -> int:
    conn = await db.connect(dsn)
    try:
        return int(await conn.fetchval(wrk.STORED, cohort.whatsapp_id(prefix) + "%"))
    finally:
        await conn.close()


def _redis_pid(url: str) -> int | None:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _rss_peak_mib(pid: int) -> float | None:
    """VmHWM: the process's peak resident set so far."""
    for entry in Path(f"/proc/{pid}/status").read_text().splitlines():
        if entry.startswith("VmHWM:"):
            return round(int(entry.split()[1]) / 1024, 1)
    return None


async def _wait_for_pools(dsn: str, all_processes: list[processes.Process]) -> None:
    """Until each julia process holds its pool (DB_POOL_MIN connections): a worker still importing would
    start inside the measured window."""
    conn = await db.connect(dsn)
    try:
        await wait_for_pools(conn, all_processes, len(all_processes) * Settings().db_pool_min)
    finally:
        await conn.close()


@contextmanager
def _julia(
    environment: dict[str, str], port: int, worker: bool, folder: Path
) -> Iterator[dict[str, processes.Process]]:
    """`julia serve` (and `julia worker`) until the block ends, serve answering /health."""
    all_processes = {"serve": processes.start("serve", ["serve", "--port", str(port)], environment, folder)}
    try:
        if worker:
            all_processes["worker"] = processes.start("worker", ["worker"], environment, folder)
        processes.wait_http(f"http://127.0.0.1:{port}/health", all_processes["serve"])
        asyncio.run(_wait_for_pools(environment["DATABASE_URL"], list(all_processes.values())))
        yield all_processes
    finally:
        for proc in reversed(all_processes.values()):
            proc.stop()


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each process with its children (Postgres's backends), and this process's
    own and its reaped children's (the generator: this process, or wrk2)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = {k: processes.cpu_s(pid, children=True) or 0.0 for k, pid in pids.items() if pid}
    output["generator"] = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return output


def measure(
    found_servers: servers.Servers,
    rate: float,
    *,
    duration_s: float,
    doctors: int,
    connections: int,
    worker: bool,
    folder: Path,
    warm_up_s: float = WARM_UP_S,
    wrk2: str | None = None,
) -> dict[str, Any]:
    """One rate, on freshly seeded data and freshly started julia processes."""
    dsn, telefones, postmaster = asyncio.run(_prepare(found_servers.database_url, doctors, worker))
    redis_url = with_redis_db(found_servers.redis_url, REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()
    port = processes.free_port()
    with ExitStack() as stack:
        environment = {**os.environ}
        if worker:
            fakes = stack.enter_context(control.start(fakes_config(Scenario()), semente=42))
            environment.update(fakes.ambiente())
        environment.update(
            {
                "DATABASE_URL": dsn,
                "REDIS_URL": redis_url,
                "EVOLUTION_API_KEY": KEY,
                "EVOLUTION_WEBHOOK_SENDING_KEY": "true",  # the generator posts the `apikey` header
                "LOG_LEVEL": "WARNING",
            }
        )
        all_processes = stack.enter_context(_julia(environment, port, worker, folder / f"{rate:g}"))
        templates = bodies(telefones)
        warm_up = requests(port, templates, f"Q{uuid.uuid4().hex[:6].upper()}")
        runtime.run_long(generator.generate("127.0.0.1", port, warm_up, rate, warm_up_s, connections, WAIT_S))
        pids: dict[str, int | None] = {name: p.pid for name, p in all_processes.items()}
        pids |= {"postgres": postmaster, "redis": _redis_pid(redis_url)}
        prefix = f"A{uuid.uuid4().hex[:6].upper()}"  # not the warm-up's: only the window is counted
        load_avg = Path("/proc/loadavg").read_text().split()[0]
        before = _cpu(pids)
        if wrk2 is None:
            request = requests(port, templates, prefix)
            measured = runtime.run_long(
                generator.generate("127.0.0.1", port, request, rate, duration_s, connections, WAIT_S)
            )
            result = summarize(measured, rate, duration_s)
        else:
            result = _wrk2(wrk2, port, templates, prefix, rate, duration_s, connections, folder)
        after = _cpu(pids)
        result["serve_rss_mib"] = _rss_peak_mib(all_processes["serve"].pid)
    result["gravadas"] = asyncio.run(_stored(dsn, prefix))
    seconds = result["segundos"] or 1.0
    result["cpu_pct"] = {k: round(100 * (after[k] - before[k]) / seconds, 1) for k in after}
    result["gerador"] = "wrk2" if wrk2 else "julia.testing.capacity.generator"
    result["worker"] = worker
    result["conexoes"] = connections
    result["carga_maquina"] = f"{load_avg} -> {Path('/proc/loadavg').read_text().split()[0]}"
    return result


def _wrk2(
    binary: str,
    port: int,
    templates: list[bytes],
    prefix: str,
    rate: float,
    duration_s: float,
    connections: int,
    folder: Path,
) -> dict[str, Any]:
    """The same rate through wrk2 (`-R`; its latency counts from each request's due instant too)."""
    file = folder / "bodies.jsonl"
    file.write_bytes(b"".join(m + b"\n" for m in templates))
    output = subprocess.run(
        [
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{duration_s:g}s",
            f"-R{rate:g}",
            "-s",
            str(wrk.SCRIPT),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "WRK_BODIES": str(file), "WRK_PREFIX": prefix, "WRK_APIKEY": KEY},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parsed = wrk.read_output(output)
    return {
        "taxa_pedida": rate,
        "requisicoes": parsed["requisicoes"],
        "segundos": parsed["segundos"],
        "aceitas": parsed["aceitas"],
        "aceitas_por_s": parsed["aceitas_por_s"],
        "erros": {
            "status": {"non-2xx": parsed["erros"]["status"]} if parsed["erros"]["status"] else {},
            "conexoes_perdidas": sum(v for k, v in parsed["erros"].items() if k != "status"),
        },
        "latencia_ms": parsed["latencia_ms"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m julia.testing.capacity.open_loop", description=__doc__)
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[250, 500, 1000, 1500, 2000, 2500], help="webhooks/s"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate (default 30)")
    parser.add_argument("--doctors", type=int, default=1000, help="distinct doctors writing (default 1,000)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--worker", action="store_true", help="a `julia worker` beside, as in production")
    parser.add_argument("--wrk2", metavar="PATH", help="drive with this wrk2 binary instead")
    parser.add_argument("--out", type=Path, default=Path("reports/out/capacity-aberta.json"))
    args = parser.parse_args(argv)
    settings = Settings()
    results_, reasons = [], []
    with (
        servers.resolve(settings.database_url, settings.redis_url) as found,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for rate in args.rates:
            r = measure(
                found,
                rate,
                duration_s=args.duration,
                doctors=args.doctors,
                connections=args.connections,
                worker=args.worker,
                folder=Path(tmp),
                wrk2=args.wrk2,
            )
            results_.append(r)
            reasons += failures(r)
            print(summary_line(r), flush=True)
    return wrk.write_runs(args.out, results_, reasons)


if __name__ == "__main__":
    sys.exit(main())
