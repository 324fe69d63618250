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
import time
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
from julia.testing import controle
from julia.testing.capacity import cohort, generator, processes, wrk
from julia.testing.capacity.load import CONEXOES, PRONTOS_S, Cenario, config_falsos

BANCO = "julia_capacidade_aberta"
REDIS_DB = 8  # its own database on a shared Redis, flushed before each rate
CHAVE = "capacidade"
AQUECER_S = 5.0  # seconds of webhooks at the rate before the window: serve's pool grown, as in production
ESPERA_S = 30.0  # after the last arrival, for the last answers
PERCENTIS = (50, 90, 99, 99.9)


def corpos(telefones: list[str]) -> list[bytes]:
    """One messages.upsert body per doctor, `@ID@` where the message's unique id goes."""
    return [json.dumps(cohort.webhook(t, "@ID@")).encode() for t in telefones]


def pedidos(porta: int, modelos: list[bytes], prefixo: str) -> generator.Pedido:
    """Request i: doctor i mod n's body with the id `prefixo`x`i`, posted with Evolution's apikey."""
    cabeca = (
        f"POST /webhooks/evolution HTTP/1.1\r\nHost: 127.0.0.1:{porta}\r\n"
        f"Content-Type: application/json\r\napikey: {CHAVE}\r\nContent-Length: "
    ).encode()

    def pedido(i: int) -> bytes:
        corpo = modelos[i % len(modelos)].replace(b"@ID@", f"{prefixo}x{i}".encode())
        return cabeca + str(len(corpo)).encode() + b"\r\n\r\n" + corpo

    return pedido


def resumir(m: generator.Medido, taxa: float, duracao_s: float) -> dict[str, Any]:
    """The generator's measurements as the run's result (what upsert.lua's line gives for wrk2)."""
    aceitas = sum(n for s, n in m.status.items() if 200 <= s < 300)
    ordenadas, atrasos = sorted(m.latencia_ms), sorted(m.atraso_ms)
    return {
        "taxa_pedida": taxa,
        "requisicoes": m.enviadas,
        "segundos": round(m.segundos, 2),
        "aceitas": aceitas,
        "aceitas_por_s": round(aceitas / duracao_s, 1),
        "erros": {
            "status": {str(s): n for s, n in sorted(m.status.items()) if not 200 <= s < 300},
            "conexoes_perdidas": m.conexoes_perdidas,
        },
        "latencia_ms": _percentis(ordenadas),
        "atraso_gerador_ms": _percentis(atrasos),
        "gerador_cpu_s": round(m.cpu_s, 2),
        # Where in the window the tail was: each second's slowest request (by due instant).
        "max_por_segundo_ms": _max_por_segundo(m.devidas_s, m.latencia_ms),
    }


def _max_por_segundo(devidas_s: list[float], latencia_ms: list[float]) -> list[float]:
    pior: dict[int, float] = {}
    for t, ms in zip(devidas_s, latencia_ms, strict=True):
        pior[int(t)] = max(pior.get(int(t), 0.0), ms)
    return [round(pior.get(s, 0.0), 1) for s in range(max(pior, default=-1) + 1)]


def _percentis(ordenados: list[float]) -> dict[str, float]:
    if not ordenados:
        return {}
    saida = {f"p{p:g}": round(percentile(ordenados, p), 2) for p in PERCENTIS}
    saida["max"] = round(ordenados[-1], 2)
    return saida


def falhas(r: dict[str, Any]) -> list[str]:
    """Why a rate's run fails: a 2xx not in Postgres, or any error."""
    motivos = []
    if r["aceitas"] > r["gravadas"]:
        perdidas = r["aceitas"] - r["gravadas"]
        motivos.append(f"{r['taxa_pedida']}/s: {perdidas} answered 2xx but not in Postgres")
    if r["erros"]["status"] or r["erros"]["conexoes_perdidas"]:
        motivos.append(f"{r['taxa_pedida']}/s: errors {r['erros']}")
    return motivos


def linha(r: dict[str, Any]) -> str:
    lat, cpu = r["latencia_ms"], r["cpu_pct"]
    atraso = r.get("atraso_gerador_ms", {}).get("p99")
    return (
        f"{r['taxa_pedida']:g}/s asked, {r['aceitas_por_s']}/s accepted ({r['aceitas']} 2xx, "
        f"{r['gravadas']} stored, errors {r['erros']}); latency p50 {lat.get('p50')} p90 {lat.get('p90')} "
        f"p99 {lat.get('p99')} p99.9 {lat.get('p99.9')} max {lat.get('max')} ms"
        + ("" if atraso is None else f" (generator late p99 {atraso} ms)")
        + "; CPU % of a core: "
        + ", ".join(f"{k} {v}" for k, v in cpu.items())
        + f"; serve peak RSS {r['serve_rss_mib']} MiB; load {r['carga_maquina']}"
    )


async def _preparar(url: str, doctors: int, worker: bool) -> tuple[str, list[str], int | None]:
    dsn, _ = await seeded_database(url, BANCO, doctors + doctors // 2 + 10)
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.respondiveis(conn, doctors)
        if worker:  # doctors answering a mirrored campaign, as the capacity storms' (carga.py)
            await cohort.ja_no_chatwoot(conn, telefones)
        postmaster = processes.pai(int(await conn.fetchval("SELECT pg_backend_pid()")))
        return dsn, telefones, postmaster
    finally:
        await conn.close()


async def _gravadas(dsn: str, prefixo: str) -> int:
    conn = await db.connect(dsn)
    try:
        return int(await conn.fetchval(wrk.GRAVADAS, cohort.whatsapp_id(prefixo) + "%"))
    finally:
        await conn.close()


def _redis_pid(url: str) -> int | None:
    cliente = redis.Redis.from_url(url)
    try:
        return int(cliente.info("server")["process_id"])
    finally:
        cliente.close()


def _rss_pico_mib(pid: int) -> float | None:
    """VmHWM: the process's peak resident set so far."""
    for campo in Path(f"/proc/{pid}/status").read_text().splitlines():
        if campo.startswith("VmHWM:"):
            return round(int(campo.split()[1]) / 1024, 1)
    return None


async def _esperar_pools(dsn: str, todos: list[processes.Processo]) -> None:
    """Until each julia process holds its pool (DB_POOL_MIN connections): a worker still importing would
    start inside the measured window."""
    conn = await db.connect(dsn)
    try:
        limite = time.monotonic() + PRONTOS_S
        while await conn.fetchval(CONEXOES) < 1 + len(todos) * Settings().db_pool_min:
            for p in todos:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.nome} exited with {p.popen.returncode}: see {p.log}")
            if time.monotonic() > limite:
                raise RuntimeError(f"julia processes not connected after {PRONTOS_S:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


@contextmanager
def _julia(
    ambiente: dict[str, str], porta: int, worker: bool, pasta: Path
) -> Iterator[dict[str, processes.Processo]]:
    """`julia serve` (and `julia worker`) until the block ends, serve answering /health."""
    todos = {"serve": processes.iniciar("serve", ["serve", "--port", str(porta)], ambiente, pasta)}
    try:
        if worker:
            todos["worker"] = processes.iniciar("worker", ["worker"], ambiente, pasta)
        processes.esperar_http(f"http://127.0.0.1:{porta}/health", todos["serve"])
        asyncio.run(_esperar_pools(ambiente["DATABASE_URL"], list(todos.values())))
        yield todos
    finally:
        for processo in reversed(todos.values()):
            processo.parar()


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each process with its children (Postgres's backends), and this process's
    own and its reaped children's (the generator: this process, or wrk2)."""
    proprio = resource.getrusage(resource.RUSAGE_SELF)
    filhos = resource.getrusage(resource.RUSAGE_CHILDREN)
    saida = {k: processes.cpu_s(pid, filhos=True) or 0.0 for k, pid in pids.items() if pid}
    saida["generator"] = proprio.ru_utime + proprio.ru_stime + filhos.ru_utime + filhos.ru_stime
    return saida


def medir(
    servicos: servers.Servers,
    taxa: float,
    *,
    duracao_s: float,
    doctors: int,
    conexoes: int,
    worker: bool,
    pasta: Path,
    aquecer_s: float = AQUECER_S,
    wrk2: str | None = None,
) -> dict[str, Any]:
    """One rate, on freshly seeded data and freshly started julia processes."""
    dsn, telefones, postmaster = asyncio.run(_preparar(servicos.database_url, doctors, worker))
    redis_url = with_redis_db(servicos.redis_url, REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()
    porta = processes.porta_livre()
    with ExitStack() as pilha:
        ambiente = {**os.environ}
        if worker:
            falsos = pilha.enter_context(controle.iniciar(config_falsos(Cenario()), semente=42))
            ambiente.update(falsos.ambiente())
        ambiente.update(
            {
                "DATABASE_URL": dsn,
                "REDIS_URL": redis_url,
                "EVOLUTION_API_KEY": CHAVE,
                "EVOLUTION_WEBHOOK_SENDING_KEY": "true",  # the generator posts the `apikey` header
                "LOG_LEVEL": "WARNING",
            }
        )
        todos = pilha.enter_context(_julia(ambiente, porta, worker, pasta / f"{taxa:g}"))
        modelos = corpos(telefones)
        aquecer = pedidos(porta, modelos, f"Q{uuid.uuid4().hex[:6].upper()}")
        runtime.run_long(generator.gerar("127.0.0.1", porta, aquecer, taxa, aquecer_s, conexoes, ESPERA_S))
        pids: dict[str, int | None] = {nome: p.pid for nome, p in todos.items()}
        pids |= {"postgres": postmaster, "redis": _redis_pid(redis_url)}
        prefixo = f"A{uuid.uuid4().hex[:6].upper()}"  # not the warm-up's: only the window is counted
        carga = Path("/proc/loadavg").read_text().split()[0]
        antes = _cpu(pids)
        if wrk2 is None:
            pedido = pedidos(porta, modelos, prefixo)
            medido = runtime.run_long(
                generator.gerar("127.0.0.1", porta, pedido, taxa, duracao_s, conexoes, ESPERA_S)
            )
            resultado = resumir(medido, taxa, duracao_s)
        else:
            resultado = _wrk2(wrk2, porta, modelos, prefixo, taxa, duracao_s, conexoes, pasta)
        depois = _cpu(pids)
        resultado["serve_rss_mib"] = _rss_pico_mib(todos["serve"].pid)
    resultado["gravadas"] = asyncio.run(_gravadas(dsn, prefixo))
    segundos = resultado["segundos"] or 1.0
    resultado["cpu_pct"] = {k: round(100 * (depois[k] - antes[k]) / segundos, 1) for k in depois}
    resultado["gerador"] = "wrk2" if wrk2 else "julia.testing.capacity.generator"
    resultado["worker"] = worker
    resultado["conexoes"] = conexoes
    resultado["carga_maquina"] = f"{carga} -> {Path('/proc/loadavg').read_text().split()[0]}"
    return resultado


def _wrk2(
    binario: str,
    porta: int,
    modelos: list[bytes],
    prefixo: str,
    taxa: float,
    duracao_s: float,
    conexoes: int,
    pasta: Path,
) -> dict[str, Any]:
    """The same rate through wrk2 (`-R`; its latency counts from each request's due instant too)."""
    arquivo = pasta / "bodies.jsonl"
    arquivo.write_bytes(b"".join(m + b"\n" for m in modelos))
    saida = subprocess.run(
        [
            binario,
            "-t1",
            f"-c{conexoes}",
            f"-d{duracao_s:g}s",
            f"-R{taxa:g}",
            "-s",
            str(wrk.SCRIPT),
            f"http://127.0.0.1:{porta}",
        ],
        env={**os.environ, "WRK_BODIES": str(arquivo), "WRK_PREFIX": prefixo, "WRK_APIKEY": CHAVE},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lido = wrk.ler_saida(saida)
    return {
        "taxa_pedida": taxa,
        "requisicoes": lido["requisicoes"],
        "segundos": lido["segundos"],
        "aceitas": lido["aceitas"],
        "aceitas_por_s": lido["aceitas_por_s"],
        "erros": {
            "status": {"non-2xx": lido["erros"]["status"]} if lido["erros"]["status"] else {},
            "conexoes_perdidas": sum(v for k, v in lido["erros"].items() if k != "status"),
        },
        "latencia_ms": lido["latencia_ms"],
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
    resultados, motivos = [], []
    with (
        servers.resolve(settings.database_url, settings.redis_url) as found,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for taxa in args.rates:
            r = medir(
                found,
                taxa,
                duracao_s=args.duration,
                doctors=args.doctors,
                conexoes=args.connections,
                worker=args.worker,
                pasta=Path(tmp),
                wrk2=args.wrk2,
            )
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
