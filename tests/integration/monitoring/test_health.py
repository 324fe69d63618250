"""Findings -> status: every threshold gives the right status, and the check runs on the real servers."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from julia.data.operacao import Operation
from julia.data.recibos import DeliveryFailures
from julia.health import Findings, HealthCheck, Probe, Status, Thresholds, evaluate
from julia.metrics import Metrics
from julia.queries import sql
from julia.services import pause
from julia.services.pause import SendingState
from julia.settings import Settings

UP = Probe(True, 1.0)
DOWN = Probe(False, None, "sem resposta em 1 s")
LIMITS = Thresholds()


def operacao(
    queue_s: float = 0.0,
    handoffs: int = 0,
    handoff_s: float = 0.0,
    inbound_s: float = 0.0,
    uncertain: int = 0,
) -> Operation:
    return Operation(
        conversas_ativas=10,
        entradas_abertas=3,
        entrada_mais_antiga_s=inbound_s,
        fila_pendente=5,
        fila_vencida=2,
        fila_mais_antiga_s=queue_s,
        handoffs_pendentes=handoffs,
        handoff_mais_antigo_s=handoff_s,
        fila_incerta=uncertain,
    )


def judge(**changes: object) -> tuple[Status, list[str]]:
    base: dict[str, object] = {
        "postgres": UP,
        "redis": UP,
        "whatsapp": "open",
        "operacao": operacao(),
        "p95_ms": {},
    }
    report = evaluate(Findings(**{**base, **changes}), LIMITS)  # type: ignore[arg-type]
    return report.status, [f"{p.key}={p.severity}" for p in report.problems]


@pytest.mark.parametrize(
    ("changes", "status", "problems"),
    [
        ({}, Status.HEALTHY, []),
        ({"postgres": DOWN, "operacao": None}, Status.CRITICAL, ["postgres=critical"]),
        ({"redis": DOWN}, Status.DEGRADED, ["redis=degraded"]),
        ({"whatsapp": "close"}, Status.CRITICAL, ["whatsapp=critical"]),
        ({"whatsapp": "refused"}, Status.CRITICAL, ["whatsapp=critical"]),
        ({"whatsapp": "connecting"}, Status.HEALTHY, []),
        ({"envio": SendingState(False)}, Status.HEALTHY, []),
        (
            {"envio": SendingState(True, "incidente", "2026-11-25T03:00:00+00:00")},
            Status.DEGRADED,
            ["envio=degraded"],
        ),
        ({"whatsapp": "unknown"}, Status.HEALTHY, []),
        (
            {
                "envio": SendingState(
                    False, "muitas falhas", "2026-11-25T03:00:00+00:00", True, {"entregas": "x"}
                )
            },
            Status.DEGRADED,
            ["envio=degraded"],
        ),
        ({"entregas": DeliveryFailures(recibos=49, falhas=49)}, Status.HEALTHY, []),  # too few to judge
        ({"entregas": DeliveryFailures(recibos=100, falhas=10)}, Status.HEALTHY, []),  # at the limit
        ({"entregas": DeliveryFailures(recibos=100, falhas=11)}, Status.CRITICAL, ["entregas=critical"]),
        ({"operacao": operacao(queue_s=300)}, Status.HEALTHY, []),
        ({"operacao": operacao(queue_s=301)}, Status.DEGRADED, ["fila=degraded"]),
        ({"operacao": operacao(queue_s=901)}, Status.CRITICAL, ["fila=critical"]),
        ({"operacao": operacao(inbound_s=300)}, Status.HEALTHY, []),
        ({"operacao": operacao(inbound_s=301)}, Status.DEGRADED, ["entradas=degraded"]),
        ({"operacao": operacao(inbound_s=901)}, Status.CRITICAL, ["entradas=critical"]),
        ({"operacao": operacao(handoffs=2, handoff_s=601)}, Status.DEGRADED, ["handoffs=degraded"]),
        ({"operacao": operacao(handoffs=2, handoff_s=60)}, Status.HEALTHY, []),
        ({"operacao": operacao(uncertain=1)}, Status.DEGRADED, ["envio_incerto=degraded"]),
        ({"p95_ms": {"buscar_vagas": (1000.0, 50)}}, Status.HEALTHY, []),
        ({"p95_ms": {"buscar_vagas": (1001.0, 50)}}, Status.DEGRADED, ["p95:buscar_vagas=degraded"]),
        # Each kind of operation has limits of its own: a Claude call takes seconds, a webhook must not.
        ({"p95_ms": {"gerar_resposta": (4900.0, 50)}}, Status.HEALTHY, []),
        ({"p95_ms": {"gerar_resposta": (10_001.0, 50)}}, Status.DEGRADED, ["p95:gerar_resposta=degraded"]),
        ({"p95_ms": {"gerar_resposta": (20_001.0, 50)}}, Status.CRITICAL, ["p95:gerar_resposta=critical"]),
        ({"p95_ms": {"gerar_resposta": (90_000.0, 2)}}, Status.HEALTHY, []),  # too few calls to be a trend
        ({"p95_ms": {"processar_webhook": (251.0, 50)}}, Status.DEGRADED, ["p95:processar_webhook=degraded"]),
        (
            {"p95_ms": {"chatwoot_criar_contato": (5001.0, 9)}},
            Status.CRITICAL,
            ["p95:chatwoot_criar_contato=critical"],
        ),
        (
            {"redis": DOWN, "p95_ms": {"a": (1500.0, 9), "b": (2500.0, 9)}},
            Status.CRITICAL,
            ["redis=degraded", "p95:a=degraded", "p95:b=critical"],
        ),
    ],
)
def test_thresholds_give_the_right_status(
    changes: dict[str, object], status: Status, problems: list[str]
) -> None:
    assert judge(**changes) == (status, problems)


def test_thresholds_come_from_settings() -> None:
    limits = Thresholds.from_settings(Settings(p95_degraded_ms=200, p95_critical_ms=400))
    findings = Findings(UP, UP, "open", operacao(), {"buscar_vagas": (250.0, 10)})
    assert evaluate(findings, limits).status is Status.DEGRADED


def test_per_operation_limits_from_settings_override_the_built_in_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P95_LIMITES_MS", '{"gerar_resposta": [3000, 6000]}')
    limits = Thresholds.from_settings(Settings())
    assert limits.p95_limits("gerar_resposta") == (3000.0, 6000.0)
    assert limits.p95_limits("evolution_send_text") == (2000.0, 5000.0)  # the built-in "evolution_*"
    assert limits.p95_limits("buscar_vagas") == (1000.0, 2000.0)  # a query: the default
    findings = Findings(UP, UP, "open", operacao(), {"gerar_resposta": (4000.0, 10)})
    assert evaluate(findings, limits).problems[0].message == "gerar_resposta: p95 4000 ms (limite 3000 ms)"


async def test_check_on_the_real_servers(pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis) -> None:
    metrics = Metrics()

    async def whatsapp() -> str:
        return "open"

    report = await HealthCheck(pool, redis, metrics, LIMITS, whatsapp_state=whatsapp).check()
    assert report.status is Status.HEALTHY, report.problems
    body = report.as_dict()
    assert body["postgres"]["ok"]
    assert body["postgres"]["latency_ms"] >= 0
    assert body["redis"]["ok"]
    assert body["whatsapp"] == "open"
    assert body["fila"]["fila_pendente"] == 0

    for _ in range(5):
        metrics.observe("buscar_vagas", 1.2)
    report = await HealthCheck(pool, redis, metrics, LIMITS).check()
    assert report.status is Status.DEGRADED
    assert [p.key for p in report.problems] == ["p95:buscar_vagas"]
    assert report.as_dict()["whatsapp"] == "unknown"


async def test_unreachable_redis_and_failing_whatsapp_are_findings(
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    nowhere = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    async def whatsapp() -> str:
        raise ConnectionError("evolution down")

    try:
        report = await HealthCheck(
            pool, nowhere, Metrics(), LIMITS, whatsapp_state=whatsapp, timeout_s=0.5
        ).check()
    finally:
        await nowhere.aclose()
    assert report.status is Status.DEGRADED
    assert [p.key for p in report.problems] == ["redis"]
    assert report.findings.redis.error
    assert report.findings.whatsapp == "unknown"


async def test_whatsapp_state_is_read_from_what_the_webhook_recorded(
    pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis
) -> None:
    settings = Settings(evolution_instance="monitoramento-teste")
    check = HealthCheck.build(settings, pool, redis, Metrics())
    assert (await check.check()).findings.whatsapp == "unknown"  # never reported
    await pool.execute(sql("registrar_conexao_evolution"), settings.evolution_instance, "close", 401)
    try:
        report = await check.check()
    finally:
        await pool.execute("DELETE FROM evolution_conexoes WHERE instancia = $1", settings.evolution_instance)
    assert report.status is Status.CRITICAL
    assert [p.key for p in report.problems] == ["whatsapp"]


async def test_a_paused_sender_shows_in_health_until_resumed(
    pool: asyncpg.Pool[asyncpg.Record], redis: aioredis.Redis
) -> None:
    check = HealthCheck(pool, redis, Metrics(), LIMITS)
    await pause.pause(redis, "incidente 42")
    try:
        report = await check.check()
    finally:
        await pause.resume(redis)
    assert [p.key for p in report.problems] == ["envio"]
    assert "incidente 42" in report.problems[0].message
    assert report.as_dict()["envio"]["pausado"] is True
    assert (await check.check()).problems == []
