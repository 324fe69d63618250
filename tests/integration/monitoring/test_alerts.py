"""Alerts: one Slack message when a problem starts, one when it resolves, de-duplicated through the real
Redis; Slack (respx, in its wire format) failing or throttling never raises."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import httpx
import httpx2
import pytest
import redis.asyncio as aioredis
import respx
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from julia import alerts
from julia.alerts import STALE_S, AlertRound, check_and_alert
from julia.data.operacao import Operation
from julia.health import Findings, HealthCheck, HealthReport, Probe, Thresholds, evaluate
from julia.integrations.slack import Slack
from julia.metrics import Metrics
from tests.support import bridge

SLACK = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"
UP = Probe(True, 1.0)
QUIET = Operation(0, 0, 0.0, 0, 0, 0.0, 0, 0.0)

Round = Callable[[HealthReport], Awaitable[AlertRound]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(http: httpx2.AsyncClient, metrics: Metrics) -> Slack:
    return Slack(SLACK, http, timeout_s=5.0, metrics=metrics)


def report(p95_ms: float | None = None) -> HealthReport:
    """buscar_vagas at this p95 over 50 calls (None: no problem at all)."""
    p95 = {} if p95_ms is None else {"buscar_vagas": (p95_ms, 50)}
    return evaluate(Findings(UP, UP, "open", QUIET, p95), Thresholds())


@pytest.fixture
def prefix() -> str:
    return f"test:alertas:{uuid.uuid4().hex}"  # each test its own keys in the shared Redis


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def slack(router: respx.MockRouter) -> respx.Route:
    return router.post(SLACK).mock(return_value=httpx.Response(200, text="ok"))


@pytest.fixture
async def http(router: respx.MockRouter) -> AsyncIterator[httpx2.AsyncClient]:
    async with bridge.cliente(router) as client:
        yield client


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def alert(redis: aioredis.Redis, http: httpx2.AsyncClient, metrics: Metrics, prefix: str) -> Round:
    async def one_round(health: HealthReport) -> AlertRound:
        return await alerts.alert(
            health, redis=redis, slack=client(http, metrics), metrics=metrics, prefix=prefix
        )

    return one_round


def texts(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["text"] for call in route.calls]


async def test_slow_operation_alerts_once_until_it_recovers(
    pool: asyncpg.Pool[asyncpg.Record],
    redis: aioredis.Redis,
    http: httpx2.AsyncClient,
    slack: respx.Route,
    prefix: str,
) -> None:
    clock = Clock()
    metrics = Metrics(window_s=60, clock=clock)
    check = HealthCheck(pool, redis, metrics, Thresholds())

    async def one_round() -> AlertRound:
        return await check_and_alert(check, slack=client(http, metrics), prefix=prefix)

    for _ in range(20):
        metrics.observe("buscar_vagas", 0.02)
    assert (await one_round()).report.status == "healthy"
    assert slack.call_count == 0

    for _ in range(20):  # the injected delay: synthetic durations through the real collector API
        metrics.observe("buscar_vagas", 1.4)
    first = await one_round()
    assert first.report.status == "degraded"
    assert first.announced == ["p95:buscar_vagas"]
    await asyncio.gather(*(one_round() for _ in range(3)))  # later rounds, some at once: nothing new
    assert slack.call_count == 1
    assert texts(slack)[0] == ":warning: *julia degradado*: buscar_vagas: p95 1400 ms (limite 1000 ms)"
    body = json.loads(slack.calls[0].request.content)
    assert body["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}]

    clock.now += 61  # the slow calls leave the window
    for _ in range(20):
        metrics.observe("buscar_vagas", 0.02)
    recovered = await one_round()
    assert recovered.report.status == "healthy"
    assert recovered.resolved == ["p95:buscar_vagas"]
    await one_round()
    assert texts(slack)[1:] == [
        ":white_check_mark: *julia resolvido*: buscar_vagas: p95 1400 ms (limite 1000 ms)"
    ]


async def test_concurrent_processes_announce_and_resolve_once(alert: Round, slack: respx.Route) -> None:
    await asyncio.gather(*(alert(report(1500)) for _ in range(5)))
    assert slack.call_count == 1
    await asyncio.gather(*(alert(report()) for _ in range(5)))
    assert slack.call_count == 2


async def test_escalation_is_announced_easing_is_not(alert: Round, slack: respx.Route) -> None:
    for p95 in (1500, 2500, 2600, 1500, None):
        await alert(report(p95))
    assert [t.split(":")[1] for t in texts(slack)] == ["warning", "rotating_light", "white_check_mark"]
    assert "agora CRÍTICO" in texts(slack)[1]


async def test_a_flapping_problem_is_announced_once_per_cooldown(
    alert: Round, slack: respx.Route, redis: aioredis.Redis, prefix: str
) -> None:
    for p95 in (1500, None, 1500, None, 1500):
        await alert(report(p95))
    assert slack.call_count == 2  # started, resolved; its returns within the cooldown stay quiet
    await redis.delete(f"{prefix}:aviso:p95:buscar_vagas:degraded")  # the cooldown ends
    await alert(report(1500))
    assert slack.call_count == 3


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="rollup_error"),
        httpx.Response(404, text="channel_not_found"),
        httpx.ConnectError("x"),
    ],
)
async def test_slack_down_never_raises_and_the_alert_is_retried(
    alert: Round, slack: respx.Route, metrics: Metrics, failure: httpx.Response | Exception
) -> None:
    slack.side_effect = [failure]
    down = await alert(report(1500))
    assert (down.failed, down.announced) == (1, [])
    assert metrics.counters()["slack_falhas"] == 1
    slack.side_effect = None
    back = await alert(report(1500))
    assert back.announced == ["p95:buscar_vagas"]
    assert slack.call_count == 2


async def test_slack_429_pauses_every_process_for_retry_after(
    alert: Round, slack: respx.Route, redis: aioredis.Redis, prefix: str
) -> None:
    slack.side_effect = [httpx.Response(429, text="rate_limited", headers={"Retry-After": "7"})]
    many = evaluate(Findings(UP, Probe(False, None, "x"), "close", QUIET, {"a": (1500.0, 9)}), Thresholds())
    throttled = await alert(many)
    assert throttled.throttled
    assert slack.call_count == 1  # stopped at the first 429
    assert 0 < await redis.ttl(f"{prefix}:pausa") <= 7
    paused = await alert(many)
    assert paused.skipped
    assert slack.call_count == 1
    await redis.delete(f"{prefix}:pausa")  # as if Retry-After had elapsed
    slack.side_effect = None
    after = await alert(many)
    assert after.announced == ["whatsapp", "redis", "p95:a"]  # critical first
    assert slack.call_count == 4


async def test_no_webhook_or_no_redis_skips_the_round(
    redis: aioredis.Redis, http: httpx2.AsyncClient, slack: respx.Route, metrics: Metrics
) -> None:
    unset = await alerts.alert(report(1500), redis=redis, slack=None, metrics=metrics)
    assert unset.skipped
    nowhere = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    try:
        lost = await alerts.alert(report(1500), redis=nowhere, slack=client(http, metrics), metrics=metrics)
    finally:
        await nowhere.aclose()
    assert lost.skipped
    assert slack.call_count == 0
    assert metrics.counters()["alertas_sem_estado"] == 1


async def test_a_problem_one_process_sees_stays_open_until_no_process_sees_it(
    redis: aioredis.Redis, http: httpx2.AsyncClient, slack: respx.Route, metrics: Metrics, prefix: str
) -> None:
    async def one_round(process: str, health: HealthReport) -> AlertRound:
        return await alerts.alert(
            health,
            redis=redis,
            slack=client(http, metrics),
            metrics=metrics,
            prefix=prefix,
            process=process,
        )

    await one_round("api-1", report(1500))  # only api-1 has slow buscar_vagas calls
    await one_round("worker-1", report())  # worker-1 has none: not a reason to say "resolved"
    assert slack.call_count == 1
    await one_round("api-1", report())
    assert slack.call_count == 2
    assert "resolvido" in texts(slack)[1]

    await one_round("api-2", report(2500))
    # api-2 dies; its last sighting is older than stale_s, so the survivors may resolve.
    await redis.zadd(f"{prefix}:visto:p95:buscar_vagas", {"api-2": time.time() - STALE_S - 1})
    resolved = await one_round("worker-1", report())
    assert resolved.resolved == ["p95:buscar_vagas"]
    assert slack.call_count == 4


async def test_every_round_logs_the_queues_at_info(
    pool: asyncpg.Pool[asyncpg.Record],
    redis: aioredis.Redis,
    http: httpx2.AsyncClient,
    slack: respx.Route,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backlog is visible in the worker's log (and /metrics) while it builds, before any alert."""
    check = HealthCheck(pool, redis, Metrics(), Thresholds())
    with caplog.at_level(logging.INFO, logger="julia.alerts"):
        await check_and_alert(check, slack=client(http, check.metrics), prefix=prefix)
    [linha] = [m for m in caplog.messages if m.startswith("queues: ")]
    assert "inbound open (oldest" in linha
    assert "due to send (oldest" in linha
