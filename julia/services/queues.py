"""The two job queues and their policy, in one place: `entradas` (inbound messages to answer,
julia/worker/reply.py) and `fila_mensagens` (messages to send, julia/worker/sender.py).

Both are lease queues over the business's own tables. A worker claims due rows with the table's claim
(FOR UPDATE SKIP LOCKED, leased: the inbound one serialises each doctor's messages, the outbound one goes
by priority), and each claim bumps `tentativas`, which is also the fencing token: every later statement
on the row holds only while `tentativas` is still the claim's. The heartbeat (`InboundQueue.keep_lease`)
keeps a long answer's lease.

The policy is here and only here: how many tries a row gets (`Policy.tries`), how long it waits between
them, what a rate limit means (`RATE_LIMITED`, `Policy.waits`), and which statement records each outcome
(the tables' named queries, julia/data/entradas.py and julia/data/fila_mensagens.py). A failed attempt is
pending again after an exponential backoff, or 'erro' with the reason at the last try or for a failure
that retrying cannot cure; a rate limit is a wait, not a try. Every reason is masked before it is kept or
logged (no phone in last_error nor in the log).

Where each queue applies its cap differs for a reason: the inbound claim returns past-cap rows as 'erro'
(a worker that died mid-answer leaves nothing else to catch them), while the send queue's claim is the
hottest statement and stays a plain claim; its cap is read in the intent (`iniciar_envio`), the first
statement of every send. The number is this module's either way.

Idle workers wait for the poll interval or their table's NOTIFY (`Queue.wakeup`, set by the worker's
listener, julia/worker/waker.py), whichever comes first.

Not procrastinate or pgqueuer: both keep jobs in their own table, and julia's queues are the business's
tables, with their indexes, per-doctor ordering and states (the delivery protocol's
'enviando'/'incerto') that the runbook, the health check and the business's tools read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from julia.data import Executor, conversations, entradas, fila_mensagens
from julia.data.entradas import ClaimedInbound
from julia.data.fila_mensagens import ClaimedMessage, Destination
from julia.integrations import IntegrationError
from julia.masking import mask_phones

log = logging.getLogger(__name__)

# The rows the queues hand out: the data layer's typed records (each its claim's RETURNING list), under
# the names the worker reads them by.
InboundRow = ClaimedInbound
SendRow = ClaimedMessage
SendRules = fila_mensagens.SendRules  # what the channel holds a send to (julia/worker/channel.py)
SendTarget = Destination  # what iniciar_envio decided: where the row goes, and whether as a re-engagement
Row = TypeVar("Row", InboundRow, SendRow)
T = TypeVar("T")

# One rule for a rate limit on both queues: a wait, not a failed try. A 429 is HTTP's "too many requests"
# (RFC 6585, with Retry-After): the service asks the caller to slow down and says nothing about the
# message. Anthropic documents it as rate_limit_error and 529 as overloaded_error, and its own SDK retries
# both after a wait; Evolution's 429 (a proxy or throttle in front of the instance) reads the same. So
# such an attempt puts the row back after a jittered, doubling backoff without counting it against the
# tries; `Policy.waits` bounds a limit that never lifts, and past it a 429 counts like any failure.
# Before this module the send queue counted a 429 as a failed try (five in about 30 s of backoff made a
# message 'erro' under a burst) while the inbound queue waited.
RATE_LIMITED = frozenset({429, 529})
# Recording a send's outcome Evolution already gave, while Postgres is unreachable: tries, over ~30 s.
RECORD_TRIES = 6


@dataclass(frozen=True)
class Retry:
    """Up to `max_tries`, the n-th waiting `backoff_s * 2**(n-1)`, at most `ceiling_s`."""

    max_tries: int
    backoff_s: float
    ceiling_s: float = math.inf

    def exhausted(self, tries: int) -> bool:
        return tries >= self.max_tries

    def delay_s(self, tries: int) -> float:
        delay: float = min(self.backoff_s * 2 ** (tries - 1), self.ceiling_s)
        return delay


@dataclass(frozen=True)
class Policy:
    """A queue's rule: its counted tries, and the rate limit's waits beside them."""

    tries: Retry
    waits: Retry

    def with_backoff(self, backoff_s: float) -> Policy:
        """The same caps with another first backoff (tests retry in milliseconds)."""
        return Policy(
            dataclasses.replace(self.tries, backoff_s=backoff_s),
            dataclasses.replace(self.waits, backoff_s=backoff_s),
        )


# Of the whole answer, each try already including the SDK's own retries: again 5 s, then 10 s later (no
# ceiling: the cap bounds it). 24 waits of at most a minute (about 20 minutes) bound a rate limit.
INBOUND_TRIES = 3
INBOUND = Policy(Retry(INBOUND_TRIES, 5.0), Retry(24, 5.0, ceiling_s=60.0))
# A send: 2 s doubling, at most 5 minutes apart; its waits as the inbound queue's, from 2 s.
SEND_TRIES = 5
SEND = Policy(Retry(SEND_TRIES, 2.0, ceiling_s=300.0), Retry(24, 2.0, ceiling_s=60.0))

Delay = Callable[[Executor, int, int, float, str], Awaitable[None]]  # (db, id, tentativas, seconds, reason)
Fail = Callable[[Executor, int, int, str], Awaitable[None]]  # (db, id, tentativas, reason)


class Queue(Generic[Row]):
    """What both queues do alike: the retry rule applied to a failed attempt, and the idle wait."""

    def __init__(
        self, table: str, label: str, policy: Policy, *, retry: Delay, wait: Delay, fail: Fail
    ) -> None:
        self.table = table  # also the NOTIFY channel
        self.label = label  # names a row in logs
        self.policy = policy
        self._retry, self._wait, self._fail = retry, wait, fail
        self.wakeup = asyncio.Event()  # set by the worker's listener when the table got rows

    async def _record(self, row: Row, write: Callable[[], Awaitable[T]]) -> T | None:
        return await write()

    async def fail(self, db: Executor, row: Row, reason: str, *, permanent: bool = False) -> None:
        """A failed attempt: again later, or 'erro' with the reason after the last one or when retrying
        cannot help (`permanent`). Either way the row stays in Postgres: never lost."""
        reason = mask_phones(reason)
        tries = row.tentativas - row.esperas
        if permanent or self.policy.tries.exhausted(tries):
            log.error("%s %s failed for good (try %s): %s", self.label, row.id, tries, reason)
            await self._record(row, lambda: self._fail(db, row.id, row.tentativas, reason))
            return
        await self.retry_later(db, row, reason)

    async def retry_later(self, db: Executor, row: Row, reason: str) -> None:
        """Pending again after the backoff, whatever the count (the cap is applied at the claim or the
        send's intent)."""
        reason = mask_phones(reason)
        tries = row.tentativas - row.esperas
        delay_s = self.policy.tries.delay_s(tries)
        log.warning("%s %s failed (try %s), again in %.1fs: %s", self.label, row.id, tries, delay_s, reason)
        await self._record(row, lambda: self._retry(db, row.id, row.tentativas, delay_s, reason))

    async def wait(self, db: Executor, row: Row, reason: str) -> None:
        """The service asked us to wait (RATE_LIMITED): pending again after the waits' backoff, not
        counted against the tries, with up to a quarter of jitter so the rows one burst put back do not
        return together. Past the last wait it is a failed attempt like any other."""
        reason = mask_phones(reason)
        if self.policy.waits.exhausted(row.esperas):
            await self.fail(db, row, reason)
            return
        delay_s = self.policy.waits.delay_s(row.esperas + 1) * random.uniform(1.0, 1.25)
        log.warning(
            "%s %s: %s; again in %.1fs (wait %s, not counted as a try)",
            self.label,
            row.id,
            reason,
            delay_s,
            row.esperas + 1,
        )
        await self._record(row, lambda: self._wait(db, row.id, row.tentativas, delay_s, reason))

    async def refused(self, db: Executor, row: Row, exc: IntegrationError) -> None:
        """The service answered no: a wait when it asked us to slow down, else a failed attempt (for good
        when trying again cannot help)."""
        if exc.status in RATE_LIMITED:
            await self.wait(db, row, str(exc))
        else:
            await self.fail(db, row, str(exc), permanent=not exc.transient_one)

    async def idle(
        self, stop: asyncio.Event, interval_s: float, tasks: Iterable[asyncio.Future[Any]] = ()
    ) -> None:
        """Until rows arrive (a notification), the poll interval passes, `stop` is set or one of `tasks`
        ends. The notification is consumed here, before the caller's next claim: one arriving during the
        claim wakes the following wait, so none is lost between the two."""
        signals: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self.wakeup.wait()),
        ]
        try:
            await asyncio.wait([*signals, *tasks], timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for signal in signals:
                signal.cancel()
        self.wakeup.clear()


class LeaseLost(Exception):
    """This attempt's lease ended and another worker took the row: nothing was marked, and what the
    caller wrote in the same transaction must roll back (raise it through the transaction)."""


class InboundQueue(Queue[InboundRow]):
    """`entradas`: the inbound messages to answer; a reply is queued at `reply_priority`."""

    def __init__(self, policy: Policy = INBOUND, *, reply_priority: int) -> None:
        self.reply_priority = reply_priority
        super().__init__(
            "entradas",
            "entrada",
            policy,
            retry=entradas.adiar_entrada,
            wait=entradas.esperar_entrada,
            fail=entradas.falhar_entrada,
        )

    async def claim(
        self, db: Executor, limit: int, lease_s: float, running: Sequence[int]
    ) -> list[InboundRow]:
        """Up to `limit` rows to answer, leased for `lease_s`, never one of `running` (this worker's). Rows
        past the tries come back from the claim as 'erro' (kept there with the reason) and are only logged."""
        rows = await entradas.reivindicar_entradas(db, limit, lease_s, self.policy.tries.max_tries, running)
        for row in rows:
            if row.status == "erro":
                log.error("entrada %s: attempt cap reached, kept as 'erro'", row.id)
        return [row for row in rows if row.status == "processando"]

    async def done(
        self,
        db: Executor,
        row: InboundRow,
        reply: str | None,
        *,
        even_if_human: bool,
        prompt_version: str | None = None,
    ) -> None:
        """The row done and `reply` (None: none) stored and queued, in one statement (concluir_entrada),
        unless a person took over meanwhile (a handoff that landed while Claude was writing: Júlia stays
        silent) and not `even_if_human`. LeaseLost when this attempt no longer holds the row."""
        if not await entradas.concluir_entrada(
            db,
            row.id,
            row.tentativas,
            reply,
            versao_prompt=prompt_version,
            prioridade=self.reply_priority,
            even_if_human=even_if_human,
        ):
            raise LeaseLost

    async def keep_lease(self, db: Executor, row: InboundRow, lease_s: float) -> None:
        """The heartbeat of an attempt still running: the lease renewed every third of it (two beats may
        fail, a Postgres blip, before it ends); returns when another worker holds the row. Cancel it when
        the attempt ends."""
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                renewed = await entradas.renovar_entrada(db, row.id, row.tentativas, lease_s)
            except Exception as exc:
                log.warning("entrada %s: lease not renewed (%s); trying again", row.id, exc)
                continue
            if not renewed:
                log.warning("entrada %s: lease lost; this attempt's outcome will be discarded", row.id)
                return


class SendQueue(Queue[SendRow]):
    """`fila_mensagens`: the messages to send, with the delivery protocol's outcomes
    (julia/worker/sender.py). Every outcome is recorded through a short Postgres outage (RECORD_TRIES):
    an outcome Evolution already gave must not be lost. Unrecorded after ~30 s, the row is left to the
    sweep ('enviando' turns 'incerto')."""

    def __init__(self, policy: Policy = SEND) -> None:
        super().__init__(
            "fila_mensagens",
            "fila_mensagens",
            policy,
            retry=fila_mensagens.adiar_mensagem,
            wait=fila_mensagens.esperar_mensagem,
            fail=fila_mensagens.falhar_mensagem,
        )

    async def _record(self, row: SendRow, write: Callable[[], Awaitable[T]]) -> T | None:
        for attempt in range(RECORD_TRIES):
            try:
                return await write()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("fila_mensagens %s: outcome not yet recorded (%s); retrying", row.id, exc)
                await asyncio.sleep(min(2.0**attempt, 10.0))
        log.error("fila_mensagens %s: outcome not recorded; the sweep will hold it as 'incerto'", row.id)
        return None

    async def claim(self, db: Executor, limit: int, lease_s: float, min_priority: int) -> list[SendRow]:
        """Up to `limit` due messages at `min_priority` or above, leased for `lease_s`."""
        return await fila_mensagens.reivindicar_mensagens(db, limit, lease_s, min_priority)

    async def start_send(
        self, db: Executor, row: SendRow, lease_s: float, rules: SendRules
    ) -> Destination | None:
        """The intent, committed before the call (iniciar_envio), the tries' cap applied here; None when
        the claim was lost."""
        return await fila_mensagens.iniciar_envio(
            db, row.id, row.tentativas, lease_s, self.policy.tries.max_tries, rules
        )

    async def put_off(self, db: Executor, row: SendRow, when: dt.datetime, reason: str) -> None:
        """Not yet (the sending window, the number's quota): pending again at `when`, the claim not
        counted."""
        reason = mask_phones(reason)
        await self._record(
            row, lambda: fila_mensagens.reagendar_mensagem(db, row.id, row.tentativas, when, reason)
        )

    async def give_back(self, db: Executor, row: SendRow) -> None:
        """Held back by a stop of sending before its send started: pending again, the claim not counted."""
        await self._record(row, lambda: fila_mensagens.devolver_mensagem(db, row.id, row.tentativas))

    async def uncertain(self, db: Executor, row: SendRow, reason: str) -> None:
        """The send may or may not have gone out: 'incerto', for a person to check, never sent again."""
        reason = mask_phones(reason)
        await self._record(row, lambda: fila_mensagens.marcar_incerta(db, row.id, row.tentativas, reason))

    async def awaiting_answer(self, db: Executor, row: SendRow, whatsapp_id: str | None) -> None:
        """The re-engagement template went in the text's place (the Cloud API's 24 hours had passed): the
        text waits 'aguardando_resposta' for the doctor's answer (julia/worker/channel.py)."""
        await self._record(
            row, lambda: fila_mensagens.aguardar_resposta(db, row.id, row.tentativas, whatsapp_id)
        )

    async def sent(self, pool: asyncpg.Pool, row: SendRow, whatsapp_id: str | None) -> int | None:
        """Record the send; the conversation it belongs to, to mirror it in (None: not recorded). A message
        queued without an interaction (a campaign's) is stored in the doctor's history now, in their active
        conversation (opened when there is none), in the same transaction."""

        async def write() -> int | None:
            if row.interacao_id is not None:  # a reply: one statement records it (no transaction)
                marked = await fila_mensagens.marcar_enviada(pool, row.id, row.tentativas, whatsapp_id)
                return None if marked is None else row.conversa_id
            async with pool.acquire() as conn, conn.transaction():
                marked = await fila_mensagens.marcar_enviada(conn, row.id, row.tentativas, whatsapp_id)
                if marked is None:  # this attempt no longer holds the row
                    return None
                if marked.interacao_id is not None:
                    return row.conversa_id
                conversa_id: int = row.conversa_id or await conversations.conversa_ativa(conn, row.cliente_id)
                await fila_mensagens.guardar_envio_no_historico(conn, row.id, conversa_id, whatsapp_id)
                return conversa_id

        return await self._record(row, write)

    async def sweep_uncertain(self, db: Executor) -> list[int]:
        """Sends whose sender died during the call, made 'incerto'; their ids."""
        return await fila_mensagens.marcar_incertas(db)
