"""Health problems -> Slack: one message when a problem starts (or worsens to critical), one when it resolves.

Run periodically by the worker (`check_and_alert`); several worker processes may run it at once, so the
state lives in Redis, under `prefix`:

- `{prefix}:ativos` (hash): problems announced and not yet resolved, key -> {"severity", "message"}.
- `{prefix}:aviso:{key}:{severity}` (SET NX EX cooldown_s): the right to announce. Exactly one process wins
  it, and while it lives the same problem is not announced again: a problem that flaps (resolves, returns
  a minute later) is announced at most once per cooldown and its silent return is never "resolved" twice.
- `{prefix}:visto:{key}` (sorted set, process -> when it last saw the problem): processes do not see the
  same things (each judges its own p95s), so a problem stays open while any process has seen it within
  `stale_s`. A process that no longer sees it removes itself; a dead process's sighting ages out.
- A resolution is sent by the one process whose HDEL removed the key from the hash, once no process sees
  the problem any more.
- `{prefix}:pausa` (SET EX Retry-After): Slack answered 429 for longer than its client waits
  (julia/integrations/slack.py, the 429 policy); nobody posts until it expires.

Slack being down never raises: the failure is logged and counted (`slack_falhas`), the claim is released
and the next round tries again. Redis being down skips the round (logged, `alertas_sem_estado`): without
shared state every process would announce every problem every round.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from julia.cache.keys import ALERTS
from julia.health import HealthCheck, HealthReport, Problem, Status
from julia.integrations import IntegrationError
from julia.integrations.slack import RateLimitedSlack, Slack
from julia.metrics import Metrics

log = logging.getLogger(__name__)

COOLDOWN_S = 900
STALE_S = 180  # keep it above two or three rounds of the periodic check
# Slack's severities are the business's warning/critical; the text names them in Portuguese for operators.
_HEADLINE = {
    Status.DEGRADED: ":warning: *julia degradado*",
    Status.CRITICAL: ":rotating_light: *julia CRÍTICO*",
}


@dataclass
class AlertRound:
    """What one round did: problem keys announced, resolved, and Slack posts that failed."""

    report: HealthReport
    announced: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed: int = 0
    throttled: bool = False
    skipped: str | None = None  # why nothing was attempted (no webhook, no Redis, Slack pause)


def _decoded(b: bytes | str) -> str:
    return b.decode() if isinstance(b, bytes) else b


def _blocks(text: str) -> list[dict[str, Any]]:
    """The text as one mrkdwn section, so Slack renders the bold headline and the emoji."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def _start_text(problem: Problem, escalated: bool) -> str:
    headline = ":rotating_light: *julia agora CRÍTICO*" if escalated else _HEADLINE[problem.severity]
    return f"{headline}: {problem.message}"


async def alert(
    report: HealthReport,
    *,
    redis: aioredis.Redis,
    slack: Slack | None,
    metrics: Metrics,
    cooldown_s: int = COOLDOWN_S,
    stale_s: int = STALE_S,
    prefix: str = ALERTS,
    process: str | None = None,
) -> AlertRound:
    """Turn one health report into Slack messages, de-duplicated across processes through Redis.
    `slack` is the process's client (julia/clients.py), None without SLACK_WEBHOOK_URL. `process` names
    this process among those sharing the state (default host:pid)."""
    result = AlertRound(report)
    if slack is None:
        result.skipped = "SLACK_WEBHOOK_URL not set"
        return result
    state = _State(redis, prefix, process or f"{socket.gethostname()}:{os.getpid()}", stale_s)
    try:
        await _run_round(result, state, slack, cooldown_s)
    except RedisError as error:
        log.warning("alerts: Redis unavailable, round skipped: %s", error)
        metrics.count("alertas_sem_estado")
        result.skipped = f"Redis: {type(error).__name__}"
    return result


class _State:
    """The shared alert state in Redis (keys in the module docstring), seen from one process."""

    def __init__(self, redis: aioredis.Redis, prefix: str, process: str, stale_s: int) -> None:
        self.redis, self.prefix, self.process, self.stale_s = redis, prefix, process, stale_s
        self.active_key, self.pause_key = f"{prefix}:ativos", f"{prefix}:pausa"

    async def paused(self) -> bool:
        return bool(await self.redis.exists(self.pause_key))

    async def pause(self, seconds: int) -> None:
        await self.redis.set(self.pause_key, "1", ex=seconds)

    async def active(self) -> dict[str, dict[str, str]]:
        return {_decoded(k): json.loads(v) for k, v in (await self.redis.hgetall(self.active_key)).items()}

    async def seen(self, key: str) -> None:
        seen_key = f"{self.prefix}:visto:{key}"
        await self.redis.zadd(seen_key, {self.process: time.time()})
        await self.redis.expire(seen_key, self.stale_s)

    async def seen_elsewhere(self, key: str) -> bool:
        """Drop this process's sighting and the stale ones; does any other process still see `key`?"""
        seen_key = f"{self.prefix}:visto:{key}"
        await self.redis.zrem(seen_key, self.process)
        await self.redis.zremrangebyscore(seen_key, "-inf", time.time() - self.stale_s)
        return bool(await self.redis.zcard(seen_key))

    async def claim(self, problem: Problem, cooldown_s: int) -> bool:
        claim = f"{self.prefix}:aviso:{problem.key}:{problem.severity}"
        return bool(await self.redis.set(claim, "1", nx=True, ex=cooldown_s))

    async def release(self, problem: Problem) -> None:
        await self.redis.delete(f"{self.prefix}:aviso:{problem.key}:{problem.severity}")

    async def remember(self, key: str, severity: str, message: str) -> None:
        await self.redis.hset(self.active_key, key, json.dumps({"severity": severity, "message": message}))

    async def forget(self, key: str) -> bool:
        """True for the one process that removed `key` from the active problems."""
        return bool(await self.redis.hdel(self.active_key, key))


async def _run_round(result: AlertRound, state: _State, slack: Slack, cooldown_s: int) -> None:
    current = {p.key: p for p in result.report.problems}
    for key in current:  # sightings first: even a paused round tells the others what this process sees
        await state.seen(key)
    if await state.paused():
        result.skipped = "Slack asked to wait (429)"
        return
    active = await state.active()

    async def send(text: str) -> bool:
        try:
            await slack.notify(text, blocks=_blocks(text))
        except RateLimitedSlack as limited:
            log.warning("slack: 429, pausing alerts for %d s", limited.wait_s)
            result.throttled = True
            result.failed += 1
            await state.pause(limited.wait_s)
            return False
        except IntegrationError as error:
            log.warning("slack: post failed: %s", error)
            result.failed += 1
            return False
        return True

    # Critical first: when Slack throttles mid-round, the worst news has gone out.
    for problem in sorted(current.values(), key=lambda p: p.severity != Status.CRITICAL):
        if result.throttled:
            return
        before = active.get(problem.key)
        escalated = (
            before is not None
            and before["severity"] == Status.DEGRADED
            and problem.severity == Status.CRITICAL
        )
        if before is not None and not escalated:
            if before["severity"] != problem.severity:  # eased off: remember, say nothing until it resolves
                await state.remember(problem.key, problem.severity, problem.message)
            continue
        if not await state.claim(problem, cooldown_s):
            continue  # another process announced it, or it flaps within the cooldown
        if await send(_start_text(problem, escalated)):
            await state.remember(problem.key, problem.severity, problem.message)
            result.announced.append(problem.key)
        else:
            await state.release(problem)  # let the next round try again

    for key in sorted(active.keys() - current.keys()):
        if result.throttled:
            return
        if await state.seen_elsewhere(key) or not await state.forget(key):
            continue  # still a problem for another process, or another process resolved it
        if await send(f":white_check_mark: *julia resolvido*: {active[key]['message']}"):
            result.resolved.append(key)
        else:
            await state.remember(key, active[key]["severity"], active[key]["message"])  # again next round


async def check_and_alert(
    check: HealthCheck,
    *,
    slack: Slack | None,
    cooldown_s: int = COOLDOWN_S,
    stale_s: int = STALE_S,
    prefix: str = ALERTS,
    process: str | None = None,
) -> AlertRound:
    """One periodic round: run the health check, alert on what changed. Never raises for Slack or Redis."""
    report = await check.check()
    _log_queues(report)
    return await alert(
        report,
        redis=check.redis,
        slack=slack,
        metrics=check.metrics,
        cooldown_s=cooldown_s,
        stale_s=stale_s,
        prefix=prefix,
        process=process,
    )


def _log_queues(report: HealthReport) -> None:
    """The queues at INFO every round: an operator sees a backlog build long before it is an alert."""
    op = report.findings.operacao
    if op is None:
        return  # Postgres did not answer: the report's problems say so
    log.info(
        "queues: %d inbound open (oldest %.0f s), %d due to send (oldest %.0f s), %d handoffs waiting",
        op.entradas_abertas,
        op.entrada_mais_antiga_s,
        op.fila_vencida,
        op.fila_mais_antiga_s,
        op.handoffs_pendentes,
    )
