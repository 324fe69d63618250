"""Claude's daily budgets (issue 34, "no open wallet"): what one lead, one doctor and the whole service may
spend on Claude in a São Paulo day, and what happens past each.

- A lead (a number no person has qualified yet: `clientes.status` 'novo') gets LEAD_CLAUDE_REPLIES_PER_DAY
  replies written by Claude a day. Past them the conversation is handed to a person (a handoff, with a
  truthful fixed text), who qualifies the lead (PATCH /admin/medicos/{id} with a status) or answers them.
  A budget rather than a fixed qualification flow: the questions a lead asks (who is Júlia, which shifts,
  how to register) are the ones Claude answers well, and a scripted flow would be a second dialogue engine
  to keep truthful; a budget bounds the cost of a lead whatever they write.
- A doctor (any other status) gets CLAUDE_TOKENS_PER_DOCTOR_DAY tokens (input + output, from each call's
  `usage`; the cached system prompt's tokens are billed apart and are not counted). Past them the
  conversation goes to a person with a truthful text: a doctor who writes that much is either a case a
  person should see or a runaway loop, and a person is the answer in both.
- The service gets CLAUDE_TOKENS_PER_DAY. Past it leads stop getting Claude (one fixed truthful text a day
  each, their messages stored and mirrored to Chatwoot) and doctors keep their answers, each within their
  own budget: the doctors are the business, and a flood of unknown numbers is what can cross it.

Crossing the service's or a doctor's budget posts one Slack alert: the counter's increment that crosses it
is one per day (INCRBY is atomic), so there is no per-message alert. The operator's steps are in
docs/runbook.md ("Claude's budget").

Counted in Redis, in a hash per day for the service (`julia:orcamento:<date>`) and one per doctor or lead
(`julia:orcamento:<date>:cliente:<id>`), each kept two days: every worker process adds to the same
counters atomically in one round trip (HINCRBY), and a day's counters expire by themselves.
In Postgres the service's total would be one row every reply updates, a hot row contended by every worker,
and a table to purge. It is a guard, not the bill (Anthropic's console is): a Redis outage or restart
without AOF loses counts and errs toward answering, as the per-number limit fails open. A doctor's
counters are named by their id (never their phone), so `julia lgpd apagar` finds and erases them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis

from julia import clock
from julia.cache import Cache
from julia.cache.keys import BUDGET
from julia.integrations import IntegrationError
from julia.integrations.slack import Slack
from julia.metrics import metrics
from julia.services import limits
from julia.settings import Settings

log = logging.getLogger(__name__)

TTL_S = 2 * 86_400  # the day's hash outlives its day, never the next one's counts
# A guard, not a cache read: tried even while the cache's breaker skips Redis, with limite.PRAZO_S's
# deadline, so the load of a flood does not switch the budgets off (julia/services/limits.py says how it did).
DEADLINE_S = limits.DEADLINE_S
SERVICE = "tokens"
MEDICOS_ABOVE = "acima:medicos"
LEADS_ABOVE = "acima:leads"

Decision = Literal["claude", "humano", "aviso"]


@dataclass(frozen=True)
class Usage:
    """A day's counters as /metrics shows them (julia.services.gauges)."""

    tokens: int
    medicos_acima: int
    leads_acima: int


def key() -> str:
    """Today's service-wide hash: `tokens`, `acima:medicos`, `acima:leads`."""
    return f"{BUDGET}:{clock.today().isoformat()}"


def cliente_key(cliente_id: int) -> str:
    """Today's hash of one doctor or lead: `tokens`, `respostas` (a lead's), `aviso`. Named `cliente:ID`
    so that an LGPD request finds and erases it (julia/cache/titular.py)."""
    return f"{key()}:cliente:{cliente_id}"


def _int(valor: Any) -> int:
    return int(valor) if valor is not None else 0


async def decide(cache: Cache, settings: Settings, cliente_id: int, *, lead: bool) -> Decision:
    """Before Claude answers `cliente_id`: 'claude', 'humano' (past their own budget: a person takes the
    conversation) or 'aviso' (a lead while the service is past its budget). One round trip: a doctor's
    tokens (HGET); for a lead, its replies counted with this one, and its and the service's tokens."""
    do_cliente = cliente_key(cliente_id)
    if not lead:
        replies = await cache.batch(lambda pipe: pipe.hget(do_cliente, "tokens"), deadline_s=DEADLINE_S)
        if replies is None:
            return "claude"
        return "humano" if _int(replies[0]) >= settings.claude_tokens_per_doctor_day else "claude"

    def build(pipe: Any) -> None:
        pipe.hincrby(do_cliente, "respostas", 1)
        pipe.expire(do_cliente, TTL_S)
        pipe.hget(do_cliente, "tokens")
        pipe.hget(key(), SERVICE)

    replies = await cache.batch(build, deadline_s=DEADLINE_S)
    if replies is None:
        return "claude"
    done_ones, _, tokens_lead, service_tokens = replies
    if _int(service_tokens) >= settings.claude_tokens_per_day:
        return "aviso"
    if int(done_ones) > settings.lead_claude_replies_per_day or _int(tokens_lead) >= (
        settings.claude_tokens_per_doctor_day
    ):
        if int(done_ones) == settings.lead_claude_replies_per_day + 1:  # counted once a day per lead
            await cache.batch(lambda pipe: pipe.hincrby(key(), LEADS_ABOVE, 1), deadline_s=DEADLINE_S)
        return "humano"
    return "claude"


async def first_aviso(cache: Cache, cliente_id: int) -> bool:
    """Whether this is the lead's first message today past the service's budget (its one fixed text)."""
    replies = await cache.batch(
        lambda pipe: pipe.hsetnx(cliente_key(cliente_id), "aviso", 1), deadline_s=DEADLINE_S
    )
    return replies is None or bool(replies[0])  # Redis down: a text rather than silence


async def spend(cache: Cache, settings: Settings, slack: Slack | None, cliente_id: int, tokens: int) -> None:
    """Add a reply's Claude tokens to its doctor's and the service's day, and alert Slack when this reply
    is the one that crossed either budget."""
    if tokens <= 0:
        return
    today, do_cliente = key(), cliente_key(cliente_id)

    def build(pipe: Any) -> None:
        pipe.hincrby(do_cliente, "tokens", tokens)
        pipe.expire(do_cliente, TTL_S)
        pipe.hincrby(today, SERVICE, tokens)
        pipe.expire(today, TTL_S)

    replies = await cache.batch(build, deadline_s=DEADLINE_S)
    if replies is None:
        return
    do_medico, of_service = int(replies[0]), int(replies[2])
    metrics.count("claude_tokens", tokens)
    if _crossed(of_service, tokens, settings.claude_tokens_per_day):
        await _alert(
            slack,
            f":money_with_wings: Júlia passou do orçamento diário de tokens do Claude: {of_service:,} de "
            f"{settings.claude_tokens_per_day:,} (CLAUDE_TOKENS_PER_DAY). Até a meia-noite (horário de "
            "Brasília) leads não são respondidos pelo Claude; médicos continuam. Runbook: Claude's budget.",
        )
    if _crossed(do_medico, tokens, settings.claude_tokens_per_doctor_day):
        await cache.batch(lambda pipe: pipe.hincrby(today, MEDICOS_ABOVE, 1), deadline_s=DEADLINE_S)
        await _alert(
            slack,
            f":money_with_wings: O médico {cliente_id} passou do orçamento diário de tokens do Claude "
            f"({do_medico:,} de {settings.claude_tokens_per_doctor_day:,}, CLAUDE_TOKENS_PER_DOCTOR_DAY): "
            "a próxima mensagem dele vai para uma pessoa da equipe. Runbook: Claude's budget.",
        )


def _crossed(total: int, added: int, limits: int) -> bool:
    return total >= limits > total - added


async def _alert(slack: Slack | None, texto: str) -> None:
    log.warning("%s", texto)
    if slack is None:
        return
    try:
        await slack.notify(texto)
    except IntegrationError as exc:  # counted in slack_falhas; the log line above stays
        log.error("budget alert not posted to Slack: %s", exc)


async def usage(redis: aioredis.Redis) -> Usage:
    """Today's counters, for the worker's metrics snapshot (julia.services.gauges, whose caller logs a
    Redis failure and tries again next round)."""
    tokens, medicos, leads = await redis.hmget(key(), [SERVICE, MEDICOS_ABOVE, LEADS_ABOVE])
    return Usage(_int(tokens), _int(medicos), _int(leads))
