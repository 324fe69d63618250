"""Failed deliveries pause campaigns: the worker's alert round (julia/worker/loop.py) hands each health
report here. The health check judges the receipts (julia/health.py, problem `entregas`: the window's
failed share above DELIVERY_FAILURE_RATE) and the alert machinery tells Slack once; this sets the stop of
sending's `entregas` cause (julia/services/pause.py), which holds campaign rows only. It is never lifted
here: a rate that falls because campaigns stopped says nothing about the list or the number, so a person
looks, then `julia resume-sending`.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from julia.health import DELIVERIES, HealthReport
from julia.services import pause

log = logging.getLogger(__name__)


async def pause_campanhas_if_failing(redis: aioredis.Redis, report: HealthReport) -> bool:
    """Pause campaigns when the report holds the failed-deliveries problem and they are not yet paused;
    whether it paused them now."""
    problem = next((p for p in report.problems if p.key == DELIVERIES), None)
    envio = report.findings.envio
    if problem is None or (envio is not None and DELIVERIES in envio.causas):
        return False
    await pause.pause(redis, problem.message, "entregas")
    log.error("campaigns paused: %s", problem.message)
    return True
