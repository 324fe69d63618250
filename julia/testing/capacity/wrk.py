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

BANCO = "julia_capacidade_wrk"
CHAVE = "capacidade"
SCRIPT = Path(__file__).with_name("upsert.lua")
MARCA = "WRKJSON "
GRAVADAS = """
SELECT count(*) FROM interacoes i JOIN entradas e ON e.interacao_id = i.id
WHERE i.whatsapp_message_id LIKE $1
"""


def ler_saida(saida: str) -> dict[str, Any]:
    """The summary upsert.lua's done() prints, from wrk's output; a clear error when it is missing."""
    for linha in saida.splitlines():
        if linha.startswith(MARCA):
            bruto = json.loads(linha.removeprefix(MARCA))
            erros = {k: int(bruto[k]) for k in ("connect", "read", "write", "status", "timeout")}
            segundos = int(bruto["duration_us"]) / 1e6
            aceitas = int(bruto["requests"]) - erros["status"]
            return {
                "requisicoes": int(bruto["requests"]),
                "segundos": round(segundos, 2),
                "aceitas": aceitas,
                "aceitas_por_s": round(aceitas / segundos, 1) if segundos else 0.0,
                "erros": erros,
                "latencia_ms": {
                    p: round(int(bruto[f"{p.replace('.', '')}_us"]) / 1000, 2)
                    for p in ("p50", "p90", "p99", "p99.9", "max")
                    if f"{p.replace('.', '')}_us" in bruto  # p99.9: since the open-loop runs (aberta.py)
                },
            }
    raise RuntimeError(f"wrk printed no {MARCA.strip()} line: {saida[-300:]!r}")


def falhas(r: dict[str, Any]) -> list[str]:
    """Why the run fails: a 2xx not in Postgres, or errors (non-2xx, timeouts, broken connections)."""
    motivos = []
    if r["aceitas"] > r["gravadas"]:
        motivos.append(f"{r['aceitas'] - r['gravadas']} webhooks answered 2xx but not in Postgres")
    if any(r["erros"].values()):
        motivos.append(f"errors: {r['erros']}")
    return motivos


def linha(r: dict[str, Any]) -> str:
    cpu, lat = r["cpu_pct"], r["latencia_ms"]
    return (
        f"wrk {r['conexoes']} connections, {r['segundos']} s: {r['aceitas']} accepted "
        f"({r['aceitas_por_s']}/s), {r['gravadas']} stored; latency p50 {lat['p50']} p90 {lat['p90']} "
        f"p99 {lat['p99']} max {lat['max']} ms; CPU % of a core: serve {cpu['serve']}, postgres "
        f"{cpu['postgres']}, wrk {cpu['wrk']}; load {r['carga_maquina']}"
    )


async def _preparar(url: str, doctors: int) -> tuple[str, list[str]]:
    dsn, _ = await seeded_database(url, BANCO, doctors + doctors // 2 + 10)
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.respondiveis(conn, doctors)
    finally:
        await conn.close()
    return dsn, telefones


async def _contar(dsn: str, prefixo: str) -> tuple[int, int | None]:
    conn = await db.connect(dsn)
    try:
        gravadas = int(await conn.fetchval(GRAVADAS, cohort.whatsapp_id(prefixo) + "%"))
        postmaster = processes.pai(int(await conn.fetchval("SELECT pg_backend_pid()")))
        return gravadas, postmaster
    finally:
        await conn.close()


def medir(
    servicos: servers.Servers, doctors: int, conexoes: int, duracao_s: int, pasta: Path
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    pasta.mkdir(parents=True, exist_ok=True)
    bodies = pasta / "bodies.jsonl"
    dsn, telefones = asyncio.run(_preparar(servicos.database_url, doctors))
    bodies.write_text("".join(json.dumps(cohort.webhook(t, "@ID@")) + "\n" for t in telefones))
    porta = processes.porta_livre()
    ambiente = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": servicos.redis_url,
        "EVOLUTION_API_KEY": CHAVE,
        "EVOLUTION_WEBHOOK_SENDING_KEY": "true",  # wrk posts the `apikey` header
        "LOG_LEVEL": "WARNING",
    }
    serve = processes.iniciar("serve", ["serve", "--port", str(porta)], ambiente, pasta)
    try:
        processes.esperar_http(f"http://127.0.0.1:{porta}/health", serve)
        prefixo = f"W{uuid.uuid4().hex[:6].upper()}"
        _, postmaster = asyncio.run(_contar(dsn, prefixo))
        antes = _cpu(serve.pid, postmaster)
        carga = Path("/proc/loadavg").read_text().split()[0]
        saida = subprocess.run(
            [wrk, "-t1", f"-c{conexoes}", f"-d{duracao_s}s", "-s", str(SCRIPT), f"http://127.0.0.1:{porta}"],
            env={**os.environ, "WRK_BODIES": str(bodies), "WRK_PREFIX": prefixo, "WRK_APIKEY": CHAVE},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        depois = _cpu(serve.pid, postmaster)
        resultado = ler_saida(saida)
        resultado["gravadas"], _ = asyncio.run(_contar(dsn, prefixo))
    finally:
        serve.parar()
    segundos = resultado["segundos"] or 1.0
    resultado["cpu_pct"] = {k: round(100 * (depois[k] - antes[k]) / segundos, 1) for k in depois}
    resultado["conexoes"] = conexoes
    resultado["carga_maquina"] = f"{carga} -> {Path('/proc/loadavg').read_text().split()[0]}"
    return resultado


def _cpu(serve: int, postmaster: int | None) -> dict[str, float]:
    """CPU seconds so far: julia serve's, Postgres's (all its processes) and wrk's (this process's
    reaped children: wrk is the only one run between two readings)."""
    filhos = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "serve": processes.cpu_s(serve, filhos=True) or 0.0,
        "postgres": (processes.cpu_s(postmaster, filhos=True) or 0.0) if postmaster else 0.0,
        "wrk": filhos.ru_utime + filhos.ru_stime,
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
    resultados, motivos = [], []
    with (
        servers.resolve(settings.database_url, settings.redis_url) as found,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for conexoes in args.connections:
            r = medir(found, args.doctors, conexoes, args.duration, Path(tmp) / str(conexoes))
            resultados.append(r)
            motivos += falhas(r)
            print(linha(r), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(resultados, indent=1))
    for motivo in motivos:
        print(f"FAIL {motivo}", file=sys.stderr)
    return 1 if motivos else 0


if __name__ == "__main__":
    sys.exit(main())
