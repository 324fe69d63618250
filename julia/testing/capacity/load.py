"""One capacity run: seed, start the fakes and julia's processes, drive the doctors open-loop, watch
the queues and CPU, stop everything, and summarise it as a dict (the perf engine's benchmarks of it are
julia.testing.capacity.benches)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import httpx2
import redis.asyncio as aioredis
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

from julia import db, gc_pauses
from julia.data.operacao import contar_operacao
from julia.perf.engine import memory
from julia.perf.engine.ab import with_redis_db
from julia.seed.database import seeded_database
from julia.servers import Servers
from julia.settings import Settings
from julia.testing import controle
from julia.testing.capacity import cohort, processes
from julia.testing.capacity.summaries import por_segundo, resumo

log = logging.getLogger(__name__)

BANCO = "julia_capacidade"
REDIS_DB = 7  # a database of its own on a shared Redis: FLUSHDB between runs touches nothing else
CHAVE = "capacidade"
AMOSTRA_S = 1.0
LEITURA_S = 0.25
AQUECER_S = 2.0  # after every process holds its pool: the worker's first claim, the caches' first reads
PRONTOS_S = 120.0  # a loaded machine takes long to import the SDK and start a worker
CONEXOES = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
"""
# How the run's inbound rows were tried: waits on Claude's rate limit (not counted as tries, see
# julia/worker/resposta.py) and failed tries that did count.
TENTATIVAS = """
SELECT count(*) FILTER (WHERE esperas > 0) AS com_espera,
       coalesce(sum(esperas), 0)::int AS esperas,
       count(*) FILTER (WHERE tentativas - esperas > 1) AS com_falha,
       count(*) FILTER (WHERE status = 'erro') AS erro
FROM entradas
"""
# Where each reply's time went, from the rows' own timestamps (one clock, the server's): the webhook's
# statement registers the message; the completing statement marks it done and queues the reply, stamping
# both with the same now(), which is how the two rows are paired; the sender marks the reply sent once
# sendText answered. So `resposta` is the inbound queue, context, Claude and completion, `envio` the reply
# queue, the sender's rate and sendText.
ETAPAS = """
SELECT 1000 * extract(epoch FROM e.feita_em - e.created_at) AS resposta,
       1000 * extract(epoch FROM f.enviada_em - f.created_at) AS envio
FROM entradas e
JOIN fila_mensagens f ON f.conversa_id = e.conversa_id AND f.created_at = e.feita_em
WHERE e.status = 'feita' AND f.status = 'enviada'
"""
POSTGRES = "postgres"
CARGA = "driver"  # the load generator's CPU, beside julia's processes and Postgres
FALSOS = "fakes"  # the fake third parties' server: on the same cores, so its CPU is the run's too
CONEXOES_CARGA = 200  # the driver's connections to julia serve at most, as a gateway would hold
WEBHOOK_TENTATIVAS = 6  # Evolution retries a failed webhook (up to 10, from 5 s); shorter here


@dataclass(frozen=True)
class Cenario:
    medicos: int = 1000
    janela_s: float = 60.0
    # julia worker processes; 0 measures the webhooks alone (ingestion: nothing is answered, every
    # accepted message must be in Postgres).
    workers: int = 1
    serve_workers: int = 1  # uvicorn worker processes of the one `julia serve` (`--workers`)
    modo: Literal["tempestade", "conversa"] = "tempestade"
    rodadas: int = 3  # conversa: messages per doctor
    pensar_s: float = 5.0  # conversa: mean think time between Júlia's reply and the next message
    claude_mediana_ms: float = 2000.0
    claude_p99_ms: float = 8000.0
    claude_rpm: int | None = None
    evolution_mediana_ms: float = 150.0
    evolution_p99_ms: float = 600.0
    drenar_s: float = 120.0  # after the last message: unanswered by then is lost
    chatwoot: bool = True  # mirror to (fake) Chatwoot, as production does
    # Doctors Chatwoot has never seen (a first, spontaneous message): the reply path creates the contact
    # and the conversation (two more calls and three statements). By default they answer a campaign that
    # julia sent, and mirrored, so both exist (medicos.ja_no_chatwoot).
    primeiro_contato: bool = False
    # Doctors a real campaign is created for (POST /admin/campanhas) just before the first message, at
    # the campaign rate of the settings, so its sends compete with the replies for the sender; 0: none.
    # Either way the seed's own pending rows are cleared: the queue holds only what this run puts there.
    campanha: int = 0
    # The instance's integration (EVOLUTION_INTEGRATION and the fake's): on the Cloud API the campaign
    # names the approved template `oferta_plantao` and goes through sendTemplate (issue 36).
    canal: Literal["baileys", "cloud-api"] = "baileys"
    ambiente: dict[str, str] = field(default_factory=dict)  # julia settings for serve and workers
    semente: int = 42

    def nome(self) -> str:
        campanha = f"-campanha{self.campanha}" if self.campanha else ""
        primeiro = "-primeirocontato" if self.primeiro_contato else ""
        modo = self.modo if self.workers else "ingestao"
        serve = f"-{self.serve_workers}serve" if self.serve_workers != 1 else ""
        canal = "-cloudapi" if self.canal == "cloud-api" else ""
        return (
            f"{modo}-{self.medicos}med-{self.janela_s:.0f}s-{self.workers}w{serve}{campanha}{canal}{primeiro}"
        )


@dataclass
class Observado:
    aceito_em: dict[str, float] = field(default_factory=dict)  # token -> webhook accepted (time.time())
    respostas: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outras_enviadas: int = 0  # sends that answer no benchmark message: the campaign's
    numeros: set[str] = field(default_factory=set)  # every number a send reached
    a_quem_saiu: int = 0  # of them, doctors opted out or blocked: the 0, whatever else happens
    claude_s: list[float] = field(default_factory=list)  # the fake Claude's latency drawn for each call
    campanha_enfileirada: int = 0  # rows the campaign queued
    webhook_ms: list[float] = field(default_factory=list)
    # How late each message left against its scheduled instant: the driver's own event loop. An open-loop
    # driver that stalls sends a burst later and measures its stall as webhook time (it did: c5c7e52).
    atraso_ms: list[float] = field(default_factory=list)
    webhook_erros: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    nao_gravadas: int = 0  # accepted (200) yet not in Postgres once the run ended: lost by julia
    recusadas: int = 0  # messages whose webhook never got a 200 (Evolution would drop them too)
    amostras: list[dict[str, Any]] = field(default_factory=list)
    tentativas: dict[str, int] = field(default_factory=dict)  # TENTATIVAS at the end of the run
    etapas_ms: dict[str, list[float]] = field(default_factory=dict)  # ETAPAS' columns: each reply's stages
    # Each julia process's memory, sampled with the samples: (messages it has done so far, reading).
    memoria: dict[str, list[tuple[int, memory.Reading]]] = field(default_factory=lambda: defaultdict(list))
    # The servers' beside them, in bytes: Postgres's PSS (all its processes), Redis's own RSS and data.
    servidores: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    esperando: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    pausas: list[dict[str, Any]] = field(default_factory=list)  # gc_pauses.summary of each julia process


def _carga_maquina() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def config_falsos(cenario: Cenario) -> dict[str, Any]:
    """The fake third parties' settings for `cenario`: Claude's and Evolution's latencies, Claude's rpm."""
    return {
        "claude": {
            "latencia": {"mediana_ms": cenario.claude_mediana_ms, "p99_ms": cenario.claude_p99_ms},
            "rpm": cenario.claude_rpm,
        },
        "evolution": {
            "integracao": cenario.canal,
            "latencia": {"mediana_ms": cenario.evolution_mediana_ms, "p99_ms": cenario.evolution_p99_ms},
        },
    }


async def rodar(cenario: Cenario, servicos: Servers, pasta: Path) -> dict[str, Any]:
    """Run one scenario on `servicos`' servers; logs of the julia processes go under `pasta`."""
    rng = random.Random(cenario.semente)
    # Seeded with a margin: some doctors opted out or are held by a person, and Júlia answers neither;
    # a campaign needs a tag that reaches its size (the widest, "plantonista", holds about 45% of them).
    semeados = max(math.ceil(cenario.medicos * 1.4) + 10, math.ceil(cenario.campanha * 2.5))
    dsn, _ = await seeded_database(servicos.database_url, BANCO, semeados)
    redis_url = with_redis_db(servicos.redis_url, REDIS_DB)
    redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    conn = await db.connect(dsn)
    try:
        telefones = await cohort.respondiveis(conn, cenario.medicos)
        if not cenario.primeiro_contato:
            await cohort.ja_no_chatwoot(conn, telefones)
        await conn.execute("DELETE FROM fila_mensagens WHERE status IN ('pendente', 'processando')")
        with controle.iniciar(config_falsos(cenario), semente=cenario.semente) as falsos:
            return await _com_processos(cenario, falsos, dsn, redis_url, conn, telefones, rng, pasta)
    finally:
        await conn.close()


async def _com_processos(
    cenario: Cenario,
    falsos: controle.Falsos,
    dsn: str,
    redis_url: str,
    conn: asyncpg.Connection,
    telefones: list[str],
    rng: random.Random,
    pasta: Path,
) -> dict[str, Any]:
    ambiente = {**os.environ, **falsos.ambiente(), "DATABASE_URL": dsn, "REDIS_URL": redis_url}
    ambiente["EVOLUTION_API_KEY"] = CHAVE
    ambiente["ADMIN_TOKEN"] = CHAVE
    # A campaign is sent now whatever the hour and the day (0 and 24: always open), on either channel.
    ambiente["CAMPANHA_HORA_INICIO"], ambiente["CAMPANHA_HORA_FIM"] = "0", "24"
    ambiente["CAMPANHA_ON_WEEKENDS"] = ambiente["CAMPANHA_ON_HOLIDAYS"] = "true"
    ambiente["EVOLUTION_INTEGRATION"] = cenario.canal
    # What is measured is julia's capacity at the campaign rate of the settings (its sends competing with
    # the replies), not a Baileys number's protection, which bounds the volume by design: the hourly and
    # daily most are lifted and the typing delay is off, as in the runs before issue 36 (--set restores them).
    ambiente["EVOLUTION_CAMPANHA_MAX_PER_HOUR"] = ambiente["EVOLUTION_CAMPANHA_MAX_PER_DAY"] = "1000000000"
    ambiente["EVOLUTION_TYPING_DELAY_MS"] = "0"
    if not cenario.chatwoot:
        ambiente.pop("CHATWOOT_URL")
    pasta = pasta / cenario.nome()
    # Each julia process writes its garbage-collector pauses there when it stops (julia.gc_pauses).
    shutil.rmtree(pasta / "gc", ignore_errors=True)
    ambiente["GC_PAUSES_DIR"] = str(pasta / "gc")
    ambiente.update(cenario.ambiente)
    porta = processes.porta_livre()
    api = f"http://127.0.0.1:{porta}"
    argumentos = ["serve", "--port", str(porta), "--workers", str(cenario.serve_workers)]
    serve = processes.iniciar("serve", argumentos, ambiente, pasta)
    workers = [processes.iniciar(f"worker{i}", ["worker"], ambiente, pasta) for i in range(cenario.workers)]
    todos = [serve, *workers]
    try:
        await asyncio.to_thread(processes.esperar_http, f"{api}/health", serve)
        pools = cenario.serve_workers + cenario.workers
        await _esperar_pools(conn, todos, pools * int(ambiente.get("DB_POOL_MIN", "2")))
        await asyncio.sleep(AQUECER_S)
        postmaster = processes.pai(int(await conn.fetchval("SELECT pg_backend_pid()")))
        outros = {POSTGRES: postmaster, FALSOS: falsos.processo.pid if falsos.processo else None}
        cpu_antes = _cpu(todos, outros)
        carga_antes = _carga_maquina()
        obs = Observado()
        inicio = time.time() + 0.5
        fim_chegadas = asyncio.Event()
        # julia's own client (httpx2 over aiohttp's transport): httpx's pool rescans every connection per
        # request, so at 200 webhooks/s the driver took 3-5 ms of CPU per request, neared a core and
        # measured its own queue as julia's latency.
        async with Httpx2AiohttpClient(
            base_url=api, timeout=httpx2.Timeout(30.0), limits=httpx2.Limits(max_connections=CONEXOES_CARGA)
        ) as http:
            vigias = [
                asyncio.create_task(_ler_enviadas(falsos, obs, fim_chegadas)),
                asyncio.create_task(
                    _amostrar(conn, falsos, redis_url, obs, todos, outros, inicio, fim_chegadas)
                ),
            ]
            if cenario.campanha:
                obs.campanha_enfileirada = await _criar_campanha(
                    http, conn, cenario.campanha, ambiente, cenario.canal
                )
            await _dirigir(cenario, http, telefones, obs, rng, inicio)
            ultimo = max(obs.aceito_em.values(), default=time.time())
            if cenario.workers:
                await _drenar(obs, cenario.drenar_s)
            drenado = time.time()
            await asyncio.sleep(2 * LEITURA_S)  # one more read: a late duplicate is seen
            fim_chegadas.set()
            await asyncio.gather(*vigias)
        cpu_depois = _cpu(todos, outros)
        obs.a_quem_saiu = await cohort.quantos_sairam(conn, obs.numeros)
        obs.nao_gravadas = len(obs.aceito_em) - await cohort.quantos_gravados(conn, list(obs.aceito_em))
        obs.claude_s = await falsos.latencias_claude()
        tentativas = await conn.fetchrow(TENTATIVAS)
        assert tentativas is not None  # an aggregate without GROUP BY always returns its row
        obs.tentativas = dict(tentativas)
        etapas = await conn.fetch(ETAPAS)
        obs.etapas_ms = {nome: [float(e[nome]) for e in etapas] for nome in ("resposta", "envio")}
        contadores = (await falsos.estado())["contadores"]
        slack = await falsos.slack()
    finally:
        for processo in reversed(todos):
            processo.parar()
    obs.pausas = [gc_pauses.summary(r) for r in gc_pauses.load(pasta / "gc")]
    return _relatorio(
        cenario, obs, inicio, ultimo, drenado, cpu_antes, cpu_depois, contadores, slack, carga_antes, pasta
    )


async def _esperar_pools(conn: asyncpg.Connection, todos: list[processes.Processo], conexoes: int) -> None:
    """Until every julia process (each uvicorn worker of serve too) has opened its pool: `conexoes` in all,
    DB_POOL_MIN each. A worker that is still importing would otherwise count its start-up in the first
    doctors' time-to-reply."""
    limite = time.monotonic() + PRONTOS_S
    while await conn.fetchval(CONEXOES) < 1 + conexoes:
        for p in todos:
            if p.popen.poll() is not None:
                raise RuntimeError(f"{p.nome} exited with {p.popen.returncode}: see {p.log}")
        if time.monotonic() > limite:
            raise RuntimeError(f"julia processes not connected after {PRONTOS_S:.0f} s: see {todos[0].log}")
        await asyncio.sleep(0.2)


async def _criar_campanha(
    http: httpx2.AsyncClient,
    conn: asyncpg.Connection,
    medicos_alvo: int,
    ambiente: dict[str, str],
    canal: Literal["baileys", "cloud-api"],
) -> int:
    """A campaign to the tag whose eligible doctors come closest to `medicos_alvo`, spread at the
    sender's campaign rate (EVOLUTION_CAMPANHA_RATE_PER_S, julia's default unless --set); rows queued.
    On the Cloud API it names the approved template (the only kind Meta takes), else free text."""
    tag = await conn.fetchval(cohort.TAG_MAIS_PROXIMA, medicos_alvo)
    por_s = float(ambiente.get("EVOLUTION_CAMPANHA_RATE_PER_S", Settings().evolution_campanha_rate_per_s))
    mensagem = (
        {"modelo": cohort.MODELO_CAMPANHA} if canal == "cloud-api" else {"texto": cohort.TEXTO_CAMPANHA}
    )
    corpo = {
        "id": f"capacidade-{cohort.novo_token()}",
        "tag": tag,
        **mensagem,
        "por_minuto": min(1000, max(1, round(60 * por_s))),
    }
    resposta = await http.post("/admin/campanhas", json=corpo, headers={"Authorization": f"Bearer {CHAVE}"})
    if resposta.status_code != 201:
        raise RuntimeError(f"the campaign was refused: HTTP {resposta.status_code} {resposta.text[:200]}")
    return int(resposta.json()["enfileiradas"])


def _cpu(todos: list[processes.Processo], outros: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of julia's processes, of `outros` (Postgres's postmaster, the fakes) and of
    this driver. Each with its children: `julia serve --workers N` is uvicorn's supervisor and N worker
    processes, Postgres a backend per connection."""
    leituras = {p.nome: processes.cpu_s(p.pid, filhos=True) for p in todos}
    leituras.update(
        {nome: processes.cpu_s(pid, filhos=True) if pid else None for nome, pid in outros.items()}
    )
    # The load generator itself (this process): a driver near a whole core sends late and measures its
    # own queue as julia's webhook time.
    leituras[CARGA] = time.process_time()
    return leituras


async def _dirigir(
    cenario: Cenario,
    http: httpx2.AsyncClient,
    telefones: list[str],
    obs: Observado,
    rng: random.Random,
    inicio: float,
) -> None:
    """Open loop: doctor i writes at its arrival time whether or not the server kept up. Arrivals are a
    Poisson process over the window conditioned on N doctors (N uniform instants, sorted)."""
    chegadas = sorted(rng.uniform(0, cenario.janela_s) for _ in telefones)
    if cenario.modo == "tempestade":
        tarefas = [
            asyncio.create_task(_mensagem(http, telefone, obs, inicio + chegada))
            for telefone, chegada in zip(telefones, chegadas, strict=True)
        ]
    else:
        tarefas = [
            asyncio.create_task(_conversar(cenario, http, telefone, obs, inicio + chegada, random.Random(i)))
            for i, (telefone, chegada) in enumerate(zip(telefones, chegadas, strict=True))
        ]
    await asyncio.gather(*tarefas)


async def _mensagem(http: httpx2.AsyncClient, telefone: str, obs: Observado, quando: float) -> str | None:
    """Post one message at `quando`, retried as Evolution retries; its token once accepted."""
    await asyncio.sleep(max(0.0, quando - time.time()))
    obs.atraso_ms.append(max(0.0, time.time() - quando) * 1000)
    token = cohort.novo_token()
    corpo = cohort.webhook(telefone, token)
    for tentativa in range(WEBHOOK_TENTATIVAS):
        enviado = time.time()
        try:
            resposta = await http.post("/webhooks/evolution", json=corpo, headers={"apikey": CHAVE})
            motivo = None if resposta.status_code == 200 else f"HTTP {resposta.status_code}"
        except httpx2.HTTPError as exc:
            motivo = type(exc).__name__
        if motivo is None:
            aceito = time.time()
            obs.webhook_ms.append((aceito - enviado) * 1000)
            obs.aceito_em[token] = aceito
            return token
        obs.webhook_erros[motivo] += 1
        await asyncio.sleep(min(2.0**tentativa, 10.0))
    obs.recusadas += 1
    return None


async def _conversar(
    cenario: Cenario,
    http: httpx2.AsyncClient,
    telefone: str,
    obs: Observado,
    quando: float,
    rng: random.Random,
) -> None:
    """Send, wait for Júlia's reply, think, send again: `rodadas` times."""
    for _ in range(cenario.rodadas):
        token = await _mensagem(http, telefone, obs, quando)
        if token is None:
            return
        futuro = obs.esperando.setdefault(token, asyncio.get_running_loop().create_future())
        try:
            respondido = await asyncio.wait_for(asyncio.shield(futuro), cenario.drenar_s)
        except TimeoutError:
            return
        quando = respondido + rng.expovariate(1.0 / cenario.pensar_s)


async def _drenar(obs: Observado, limite_s: float) -> None:
    fim = time.monotonic() + limite_s
    # Polled at the reader's pace: "every accepted message answered" changes with both dictionaries.
    while time.monotonic() < fim and any(t not in obs.respostas for t in obs.aceito_em):  # noqa: ASYNC110
        await asyncio.sleep(LEITURA_S)


async def _ler_enviadas(falsos: controle.Falsos, obs: Observado, fim: asyncio.Event) -> None:
    """Follow the fake Evolution's record: each accepted send is matched to its message's token."""
    lidas = 0
    while True:
        parar = fim.is_set()
        try:
            novas = await falsos.enviadas(lidas)
        except httpx.HTTPError as exc:  # the fake is busy: read again next time, nothing is lost
            log.warning("reading the fake Evolution's sends failed: %s", type(exc).__name__)
            novas = []
        lidas += len(novas)
        for envio in novas:
            if envio["status"] != 201:
                continue
            obs.numeros.add(envio["numero"])
            token = cohort.token_da_resposta(envio["texto"])
            if token is None:
                obs.outras_enviadas += 1
                continue
            obs.respostas[token].append(envio["recebido_em"])
            futuro = obs.esperando.setdefault(token, asyncio.get_running_loop().create_future())
            if not futuro.done():
                futuro.set_result(envio["recebido_em"])
        if parar:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fim.wait(), LEITURA_S)


def _ler_memoria(todos: list[processes.Processo], postmaster: int | None) -> dict[str, memory.Reading]:
    """Each julia process's memory (the uvicorn workers under `julia serve --workers N` as serve.1, ...),
    and Postgres's as "postgres" (the PSS of all its processes, in `pss`)."""
    lidas = {}
    for p in todos:
        for nome, pid in [
            (p.nome, p.pid),
            *((f"{p.nome}.{i}", f) for i, f in enumerate(memory.children(p.pid), 1)),
        ]:
            leitura = memory.read(pid)
            if leitura is not None:
                lidas[nome] = leitura
    pss = memory.tree_pss(postmaster) if postmaster else None
    if pss is not None:
        lidas[POSTGRES] = memory.Reading(pss, pss, pss)
    return lidas


async def _amostrar(
    conn: asyncpg.Connection,
    falsos: controle.Falsos,
    redis_url: str,
    obs: Observado,
    todos: list[processes.Processo],
    outros: dict[str, int | None],
    inicio: float,
    fim: asyncio.Event,
) -> None:
    """Once a second: queue depth and age (the same counts the health check reads), Claude calls in
    flight, CPU and memory of each process, Postgres's and Redis's memory."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await _amostras(conn, falsos, redis, obs, todos, outros, inicio, fim)
    finally:
        await redis.aclose()


async def _amostras(
    conn: asyncpg.Connection,
    falsos: controle.Falsos,
    redis: aioredis.Redis,
    obs: Observado,
    todos: list[processes.Processo],
    outros: dict[str, int | None],
    inicio: float,
    fim: asyncio.Event,
) -> None:
    anterior, antes = _cpu(todos, outros), time.monotonic()
    while not fim.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fim.wait(), AMOSTRA_S)
        op = await contar_operacao(conn)
        cpu, agora = _cpu(todos, outros), time.monotonic()
        passou = agora - antes
        try:
            contadores = (await falsos.estado())["contadores"]
        except httpx.HTTPError as exc:
            log.warning("sample without the fake's counters: %s", type(exc).__name__)
            contadores = {"claude_em_voo": None}
        # In a thread: reading smaps of 20-odd processes takes tens of ms, mostly in the kernel (the GIL
        # released), which the driver's loop must not spend late on its sends.
        lidas = await asyncio.to_thread(_ler_memoria, todos, outros[POSTGRES])
        redis_mem = await redis.info("memory")
        # The work each process has done so far: messages accepted for serve, answered for a worker (which
        # keeps working through the backlog after the last arrival).
        feitas, respondidas = len(obs.aceito_em), len(obs.respostas)
        for nome, leitura in lidas.items():
            if nome != POSTGRES:
                obs.memoria[nome].append((respondidas if nome.startswith("worker") else feitas, leitura))
        if POSTGRES in lidas:
            obs.servidores[POSTGRES].append(lidas[POSTGRES].pss)
        obs.servidores["redis"].append(int(redis_mem["used_memory_rss"]))
        obs.servidores["redis_dados"].append(int(redis_mem["used_memory"]))
        obs.amostras.append(
            {
                "t": round(time.time() - inicio, 2),
                "entradas_abertas": op.entradas_abertas,
                "entrada_mais_antiga_s": round(op.entrada_mais_antiga_s, 2),
                "fila_vencida": op.fila_vencida,
                "fila_mais_antiga_s": round(op.fila_mais_antiga_s, 2),
                "claude_em_voo": contadores["claude_em_voo"],
                "cpu_pct": {
                    nome: round(100 * ((cpu[nome] or 0.0) - (anterior[nome] or 0.0)) / passou, 1)
                    for nome in cpu
                },
                "aceitas": feitas,
                "respondidas": respondidas,
                # USS of julia's processes, PSS of Postgres's, Redis's own RSS: MiB.
                "memoria_mib": {
                    **{n: round(m.uss / memory.MIB, 1) for n, m in lidas.items() if n != POSTGRES},
                    **{
                        n: round(v[-1] / memory.MIB, 1)
                        for n, v in obs.servidores.items()
                        if n != "redis_dados"
                    },
                },
            }
        )
        anterior, antes = cpu, agora


def _relatorio(
    cenario: Cenario,
    obs: Observado,
    inicio: float,
    ultimo: float,
    drenado: float,
    cpu_antes: dict[str, float | None],
    cpu_depois: dict[str, float | None],
    contadores: dict[str, int],
    slack: list[str],
    carga_antes: str,
    pasta: Path,
) -> dict[str, Any]:
    respondidas = {t: sorted(v) for t, v in obs.respostas.items() if t in obs.aceito_em}
    ttr = [v[0] - obs.aceito_em[t] for t, v in respondidas.items()]
    # With no worker nothing is answered: what ingestion loses is `nao_gravadas`.
    sem_resposta = [t for t in obs.aceito_em if t not in respondidas] if cenario.workers else []
    duplicadas = [t for t, v in respondidas.items() if len(v) > 1]
    cpu = {
        nome: round((cpu_depois[nome] or 0.0) - (cpu_antes[nome] or 0.0), 2)
        for nome in cpu_depois
        if cpu_depois[nome] is not None and cpu_antes.get(nome) is not None
    }
    julia_s = sum(v for k, v in cpu.items() if k not in (POSTGRES, FALSOS, CARGA))
    # Per reply; with no worker (ingestion), per accepted webhook.
    n = max(1, len(respondidas) if cenario.workers else len(obs.aceito_em))
    return {
        "cenario": {**asdict(cenario), "nome": cenario.nome()},
        "mensagens": len(obs.aceito_em),
        "respondidas": len(respondidas),
        "sem_resposta": len(sem_resposta),  # by the end of the drain window: lost or too late
        "recusadas": obs.recusadas,
        "nao_gravadas": obs.nao_gravadas,
        "duplicadas": len(duplicadas),
        "outras_enviadas": obs.outras_enviadas,
        "a_quem_saiu": obs.a_quem_saiu,
        "campanha_enfileirada": obs.campanha_enfileirada,
        "tempo_resposta_s": resumo(ttr),
        # Every one, for the perf engine's benchmark of the storm (julia.testing.capacity.benches).
        "tempo_resposta_amostras_s": [round(t, 4) for t in sorted(ttr)],
        # What time-to-reply is judged against: this run's own draw (a p99 of a few hundred lognormal
        # draws moves by seconds from run to run), not the configured p99.
        "claude_latencia_s": resumo(obs.claude_s),
        "webhook_ms": resumo(obs.webhook_ms),
        # Every one, for the benchmark of a storm with no worker (nothing answered: the webhook is its time).
        "webhook_samples_ms": [round(ms, 2) for ms in sorted(obs.webhook_ms)] if not cenario.workers else [],
        "webhook_erros": dict(obs.webhook_erros),
        "atraso_envio_ms": resumo(obs.atraso_ms),
        "etapas_ms": {nome: resumo(valores) for nome, valores in obs.etapas_ms.items()},
        "respostas_por_s": por_segundo([v[0] for v in respondidas.values()], inicio),
        "aceitas_por_s": por_segundo(list(obs.aceito_em.values()), inicio),
        "pico": {
            "entradas_abertas": max((a["entradas_abertas"] for a in obs.amostras), default=0),
            "entrada_mais_antiga_s": max((a["entrada_mais_antiga_s"] for a in obs.amostras), default=0.0),
            "fila_vencida": max((a["fila_vencida"] for a in obs.amostras), default=0),
            "claude_em_voo": contadores["claude_pico_em_voo"],
        },
        "claude": {k: v for k, v in contadores.items() if k.startswith("claude")},
        "tentativas": obs.tentativas,
        "cpu_s": cpu,
        "cpu_ms_por_resposta": {
            "julia": round(1000 * julia_s / n, 2),
            **{nome: round(1000 * v / n, 2) for nome, v in cpu.items()},
        },
        "duracao_s": {
            "chegadas": round(ultimo - inicio, 1),
            "ate_drenar": round(drenado - inicio, 1),
        },
        # Per julia process: peak RSS and USS, USS growth per 1,000 messages accepted
        # (julia.perf.engine.memory); the servers' peak beside them.
        "memoria": {nome: memory.profile(pontos) for nome, pontos in sorted(obs.memoria.items())},
        "memoria_servidores_mib": {
            nome: {"primeira": round(v[0] / memory.MIB, 1), "pico": round(max(v) / memory.MIB, 1)}
            for nome, v in obs.servidores.items()
            if v
        },
        "gc_pausas": obs.pausas,
        "slack": slack[:20],
        "carga_maquina": {"antes": carga_antes, "depois": _carga_maquina()},
        "amostras": obs.amostras,
        "logs": str(pasta),
    }
