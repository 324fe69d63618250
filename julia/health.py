"""Is julia healthy? Gather findings (probes with short timeouts, queue figures, p95s) and judge them.

`evaluate` is pure: findings + thresholds -> healthy | degraded | critical and the list of problems, so the
admin route and the Slack alerts (julia.alerts) judge with the very same rules. Every problem carries a
stable `key` ("postgres", "p95:buscar_vagas", ...) by which alerts tell a new problem from an ongoing one.

Severity, and why:
- Postgres unreachable: critical (nothing is read, queued or answered).
- Redis unreachable: degraded (the cache fails open to Postgres; slower, still answering).
- WhatsApp `close` or `refused`: critical (doctors get no answer). `connecting` and an unknown state are
  reported but are not problems: Evolution reconnects by itself, and no state recorded is not an outage.
- Oldest due queued message older than queue_degraded_age_s / queue_critical_age_s.
- Oldest waiting handoff older than handoff_degraded_age_s: degraded (a person is late, not the system).
- Failed deliveries (the receipts of the last delivery_failure_window_s) above delivery_failure_rate,
  once there are delivery_failure_min_receipts of them: critical (the number is being refused; the worker
  pauses campaigns on this very problem, julia/services/deliveries.py).
- An operation's window p95 above its limits (degraded, critical), once it has `min_samples` calls in
  the window (one slow call is not a trend). Operations differ by orders of magnitude, so each kind has its
  own: a Claude call takes seconds, a webhook must answer in a fraction of one (P95_LIMITS_MS; the
  P95_LIMITES_MS setting overrides per operation); queries, cache reads and any operation not listed use
  p95_degraded_ms / p95_critical_ms.

Code names here are English; the business's nouns (fila, envio, entradas, operacao) keep the spelling the
rest of julia gives them, and the keys of `HealthReport.as_dict` (`problemas`, `fila`, ...) are the
/admin/metricas/health contract, so they stay as published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis

from julia.data.evolution_conexoes import estado_whatsapp
from julia.data.operacao import Operation, contar_operacao, ping
from julia.data.recibos import DeliveryFailures, contar_falhas_entrega
from julia.metrics import Metrics
from julia.services import pause
from julia.settings import Settings

T = TypeVar("T")

# Returns Evolution's last `connection.update` state (open, connecting, close, refused) or None if unknown.
WhatsAppState = Callable[[], Awaitable[str | None]]

PROBE_TIMEOUT_S = 1.0

# p95 (degraded, critical) in ms per operation; a name ending in "*" covers every operation it prefixes.
P95_LIMITS_MS: Mapping[str, tuple[float, float]] = {
    # A Claude call: 2-8 s is normal (median about 2 s); ANTHROPIC_TIMEOUT_S (30 s) ends the worst.
    "gerar_resposta": (10_000.0, 20_000.0),
    # A whole inbound message: context, Claude, the reply's transaction.
    "processar_mensagem": (15_000.0, 30_000.0),
    # The webhook's write path: a few indexed statements; slower means the pool or Postgres is saturated.
    "processar_webhook": (250.0, 1_000.0),
    # Other services over HTTP: hundreds of ms normally, their clients time out at 10-30 s.
    "evolution_*": (2_000.0, 5_000.0),
    "chatwoot_*": (2_000.0, 5_000.0),
    "slack_*": (2_000.0, 5_000.0),
}
WHATSAPP_DOWN = frozenset({"close", "refused"})
DELIVERIES = "entregas"  # the problem key of failed deliveries, on which the worker pauses campaigns


class Status(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"


_RANK = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.CRITICAL: 2}


def worse(a: Status, b: Status) -> Status:
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True)
class Problem:
    key: str
    severity: Status
    message: str


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None
    error: str | None = None


@dataclass(frozen=True)
class Thresholds:
    p95_degraded_ms: float = 1000.0
    p95_critical_ms: float = 2000.0
    queue_degraded_age_s: float = 300.0
    queue_critical_age_s: float = 900.0
    handoff_degraded_age_s: float = 600.0
    min_samples: int = 3
    delivery_failure_rate: float = 0.10
    delivery_failure_min_receipts: int = 50
    delivery_failure_window_s: float = 900.0
    p95_by_operation: Mapping[str, tuple[float, float]] = field(default_factory=lambda: P95_LIMITS_MS)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            p95_degraded_ms=settings.p95_degraded_ms,
            p95_critical_ms=settings.p95_critical_ms,
            queue_degraded_age_s=settings.queue_degraded_age_s,
            queue_critical_age_s=settings.queue_critical_age_s,
            handoff_degraded_age_s=settings.handoff_degraded_age_s,
            delivery_failure_rate=settings.delivery_failure_rate,
            delivery_failure_min_receipts=settings.delivery_failure_min_receipts,
            delivery_failure_window_s=settings.delivery_failure_window_s,
            p95_by_operation={**P95_LIMITS_MS, **settings.p95_limites_ms},
        )

    def p95_limits(self, operation: str) -> tuple[float, float]:
        """(degraded, critical) of one operation: its own, the longest prefix's, else the default."""
        if operation in self.p95_by_operation:
            return self.p95_by_operation[operation]
        prefixes = [n for n in self.p95_by_operation if n.endswith("*") and operation.startswith(n[:-1])]
        if prefixes:
            return self.p95_by_operation[max(prefixes, key=len)]
        return self.p95_degraded_ms, self.p95_critical_ms


@dataclass(frozen=True)
class Findings:
    postgres: Probe
    redis: Probe
    whatsapp: str  # "unknown" when no state could be had
    operacao: Operation | None  # None when Postgres did not answer
    p95_ms: Mapping[str, tuple[float, int]] = field(default_factory=dict)  # name -> (p95, calls in window)
    envio: pause.SendingState | None = None  # the stop of sending; None when Redis did not answer
    entregas: DeliveryFailures | None = None  # the window's receipts; None when Postgres did not answer


@dataclass(frozen=True)
class HealthReport:
    status: Status
    problems: list[Problem]
    findings: Findings

    def as_dict(self) -> dict[str, Any]:
        f = self.findings
        return {
            "status": self.status.value,
            "problemas": [asdict(p) for p in self.problems],
            "postgres": asdict(f.postgres),
            "redis": asdict(f.redis),
            "whatsapp": f.whatsapp,
            "fila": None if f.operacao is None else asdict(f.operacao),
            "envio": None if f.envio is None else asdict(f.envio),
            "p95_ms": {name: round(p95, 1) for name, (p95, _) in f.p95_ms.items()},
        }


def _queue_age(key: str, waited_s: float, limits: Thresholds, message: str) -> list[Problem]:
    """The oldest item of a queue against the queue thresholds: no problem, degraded or critical."""
    if waited_s <= limits.queue_degraded_age_s:
        return []
    severity = Status.CRITICAL if waited_s > limits.queue_critical_age_s else Status.DEGRADED
    return [Problem(key, severity, message)]


def evaluate(findings: Findings, limits: Thresholds) -> HealthReport:
    problems: list[Problem] = []
    if not findings.postgres.ok:
        problems.append(
            Problem("postgres", Status.CRITICAL, f"Postgres não responde: {findings.postgres.error}")
        )
    if not findings.redis.ok:
        problems.append(Problem("redis", Status.DEGRADED, f"Redis não responde: {findings.redis.error}"))
    if findings.whatsapp in WHATSAPP_DOWN:
        problems.append(
            Problem("whatsapp", Status.CRITICAL, f"WhatsApp desconectado (estado {findings.whatsapp})")
        )
    envio = findings.envio
    if envio is not None and (envio.pausado or envio.campanhas):
        # Deliberate, but a stop forgotten after an incident silences Júlia: keep it in sight (and in Slack).
        # WhatsApp's own stop is lifted by its reconnection; the `whatsapp` problem says that one.
        stopped_one = "envio pausado" if envio.pausado else "campanhas pausadas"
        causas = "; ".join(f"{cause}: {motivo}" for cause, motivo in sorted(envio.causas.items()))
        problems.append(
            Problem(
                "envio",
                Status.DEGRADED,
                f"{stopped_one} desde {envio.desde} ({causas or envio.motivo}); a fila espera",
            )
        )
    op = findings.operacao
    if op is not None:
        problems += _queue_age(
            "fila",
            op.fila_mais_antiga_s,
            limits,
            f"fila: mensagem mais antiga espera {op.fila_mais_antiga_s:.0f} s ({op.fila_vencida} vencidas)",
        )
        problems += _queue_age(
            "entradas",
            op.entrada_mais_antiga_s,
            limits,
            f"entradas: médico espera resposta há {op.entrada_mais_antiga_s:.0f} s "
            f"({op.entradas_abertas} abertas)",
        )
        if op.fila_incerta:
            # julia will not resend these (it might deliver twice): until a person looks, nobody will.
            problems.append(
                Problem(
                    "envio_incerto",
                    Status.DEGRADED,
                    f"{op.fila_incerta} mensagens com envio incerto: conferir no WhatsApp (runbook)",
                )
            )
        if op.handoffs_pendentes and op.handoff_mais_antigo_s > limits.handoff_degraded_age_s:
            problems.append(
                Problem(
                    "handoffs",
                    Status.DEGRADED,
                    f"{op.handoffs_pendentes} handoffs esperando, "
                    f"o mais antigo há {op.handoff_mais_antigo_s:.0f} s",
                )
            )
    problems += _deliveries(findings.entregas, limits)
    for name, (p95, calls) in sorted(findings.p95_ms.items()):
        degraded, critical = limits.p95_limits(name)
        if calls < limits.min_samples or p95 <= degraded:
            continue
        severity, limit = Status.DEGRADED, degraded
        if p95 > critical:
            severity, limit = Status.CRITICAL, critical
        problems.append(Problem(f"p95:{name}", severity, f"{name}: p95 {p95:.0f} ms (limite {limit:.0f} ms)"))
    status = Status.HEALTHY
    for problem in problems:
        status = worse(status, problem.severity)
    return HealthReport(status, problems, findings)


def _deliveries(entregas: DeliveryFailures | None, limits: Thresholds) -> list[Problem]:
    """Too many failed deliveries, once the window holds enough receipts to judge."""
    if entregas is None or entregas.recibos < limits.delivery_failure_min_receipts:
        return []
    if entregas.falhas <= limits.delivery_failure_rate * entregas.recibos:
        return []
    minutes = limits.delivery_failure_window_s / 60
    return [
        Problem(
            DELIVERIES,
            Status.CRITICAL,
            f"entregas: {entregas.falhas} de {entregas.recibos} falharam nos últimos {minutes:.0f} min "
            f"(limite {limits.delivery_failure_rate:.0%}); campanhas pausadas até alguém retomar",
        )
    ]


def queue_measures(operacao: Operation) -> dict[str, float]:
    """The queue counts as the /metrics gauges name them (julia.metrics.QUEUE_GAUGES)."""
    return {
        "entradas_abertas": operacao.entradas_abertas,
        "entrada_mais_antiga_segundos": operacao.entrada_mais_antiga_s,
        "envio_vencidas": operacao.fila_vencida,
        "envio_mais_antiga_segundos": operacao.fila_mais_antiga_s,
    }


async def _probe(check: Callable[[], Awaitable[object]], timeout_s: float) -> Probe:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        return Probe(False, None, f"sem resposta em {timeout_s:g} s")
    except Exception as error:  # any failure of a probe is a finding, never a crash of the check
        return Probe(False, None, f"{type(error).__name__}: {error}")
    return Probe(True, round((time.perf_counter() - start) * 1000, 2))


def whatsapp_state_from_db(pool: asyncpg.Pool[asyncpg.Record], instance: str) -> WhatsAppState:
    """The state the Evolution webhook recorded (table evolution_conexoes), read at each check."""

    async def state() -> str | None:
        return await estado_whatsapp(pool, instance)

    return state


@dataclass
class HealthCheck:
    """Everything the check reads. `whatsapp_state` None: the state is reported as unknown."""

    pool: asyncpg.Pool[asyncpg.Record]
    redis: aioredis.Redis
    metrics: Metrics
    limits: Thresholds
    whatsapp_state: WhatsAppState | None = None
    timeout_s: float = PROBE_TIMEOUT_S

    @classmethod
    def build(
        cls,
        settings: Settings,
        pool: asyncpg.Pool[asyncpg.Record],
        redis: aioredis.Redis,
        metrics: Metrics,
        whatsapp_state: WhatsAppState | None = None,
    ) -> HealthCheck:
        """The check the admin route and the worker's alert loop both run: thresholds from settings,
        WhatsApp state from the database unless another source is given."""
        return cls(
            pool,
            redis,
            metrics,
            Thresholds.from_settings(settings),
            whatsapp_state or whatsapp_state_from_db(pool, settings.evolution_instance),
        )

    async def _read(self, read: Callable[[], Awaitable[T]]) -> T | None:
        """A reading under the check's timeout; None when it fails (the server's own probe says why)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await read()
        except Exception:
            return None

    async def queue(self) -> Operation | None:
        """The queue counts (None if Postgres does not answer in time), also set as /metrics gauges."""
        operacao = await self._read(lambda: contar_operacao(self.pool))
        if operacao is not None:
            self.metrics.set_queue_gauges(queue_measures(operacao))
        return operacao

    async def findings(self) -> Findings:
        janela_s = self.limits.delivery_failure_window_s
        postgres, redis, whatsapp, operacao, envio, entregas = await asyncio.gather(
            _probe(lambda: ping(self.pool), self.timeout_s),
            _probe(self.redis.ping, self.timeout_s),
            self._read(self.whatsapp_state) if self.whatsapp_state else asyncio.sleep(0, None),  # no source
            self.queue(),
            self._read(lambda: pause.estado(self.redis)),
            self._read(lambda: contar_falhas_entrega(self.pool, janela_s)),
        )
        p95 = {
            name: (s.p95_ms, s.count) for name, s in self.metrics.summary().items() if s.p95_ms is not None
        }
        return Findings(postgres, redis, whatsapp or "unknown", operacao, p95, envio, entregas)

    async def check(self) -> HealthReport:
        return evaluate(await self.findings(), self.limits)
