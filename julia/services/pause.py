"""The stop of sending: one Redis hash the sender reads before it claims each batch, one field per cause.

While `julia:envio:pausado` holds a cause the sender claims nothing that cause holds back, and gives
back what it had claimed but not yet started to send (julia/worker/sender.py): queued messages stay
'pendente' in fila_mensagens (none is lost, none spends a try or ends in 'erro') and go out in their
usual order once the cause is lifted. Only the WhatsApp send stops; webhooks are still stored and
replies still written and queued. The causes, each set and lifted by one party:

- `manual`: a person, `julia pause-sending` / `julia resume-sending` (julia/commands/pause.py). Every
  send waits.
- `whatsapp`: Evolution's `connection.update` (julia/api/webhooks.py): `close` or `refused` sets it,
  `open` lifts it. Every send waits: sendText cannot reach a phone, and each try would be spent.
- `entregas`: too many failed deliveries (julia/services/deliveries.py, from the receipts). Campaign rows
  wait (at or below PRIORIDADE_CAMPANHA): the unsolicited volume is what gets a number blocked; replies
  to doctors who wrote still go. A person lifts it once the cause is understood.

`julia resume-sending` lifts every cause: a person who says "send" is obeyed. No TTL: a stop lasts until
it is lifted, across worker restarts. A flag set by hand (`SET julia:envio:pausado 1`, or the JSON string
of julia before the causes) is a manual stop.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from julia.cache.keys import SENDING_STOP

Cause = Literal["manual", "whatsapp", "entregas"]
Retention = Literal["nada", "campanhas", "tudo"]
SO_CAMPANHAS: frozenset[str] = frozenset({"entregas"})  # the causes that hold campaign rows only
WHATSAPP_FORA = frozenset({"close", "refused"})  # the connection.update states that stop every send


@dataclass(frozen=True)
class SendingState:
    """`pausado`: every send waits; `campanhas`: campaign rows wait. `motivo`/`desde`: the oldest cause's
    (ISO 8601, UTC); `causas`: cause -> its reason."""

    pausado: bool
    motivo: str | None = None
    desde: str | None = None
    campanhas: bool = False
    causas: dict[str, str] = field(default_factory=dict)

    def linha(self) -> str:
        if not self.pausado and not self.campanhas:
            return "sending: running"
        which = "; ".join(f"{cause}: {motivo}" for cause, motivo in sorted(self.causas.items()))
        if not self.pausado:
            return (
                f"sending: CAMPAIGNS PAUSED since {self.desde} ({which}); replies go, campaign messages wait"
            )
        return f"sending: PAUSED since {self.desde} ({which}); queued messages wait"


def retention(causas: set[str]) -> Retention:
    """What the sender holds back while these causes are set."""
    if causas - SO_CAMPANHAS:
        return "tudo"
    return "campanhas" if causas else "nada"


async def _from_before_causes(redis: aioredis.Redis) -> None:
    """A flag written as a string (by hand, or by julia before the causes) becomes the manual cause."""
    if await redis.type(SENDING_STOP) in (b"string", "string"):
        raw = await redis.get(SENDING_STOP)
        await redis.delete(SENDING_STOP)
        await redis.hset(SENDING_STOP, "manual", raw if raw is not None else "set by hand")


async def pause(redis: aioredis.Redis, motivo: str, cause: Cause = "manual") -> SendingState:
    """Set one cause (again: its reason and time are replaced); the state after."""
    await _from_before_causes(redis)
    desde = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    await redis.hset(SENDING_STOP, cause, json.dumps({"motivo": motivo, "desde": desde}))
    return await estado(redis)


async def resume(redis: aioredis.Redis, cause: Cause | None = None) -> list[str]:
    """Lift one cause, or every cause (None); the causes that were set and are now lifted."""
    await _from_before_causes(redis)
    if cause is None:
        causas = sorted(_text(c) for c in await redis.hkeys(SENDING_STOP))
        await redis.delete(SENDING_STOP)
        return causas
    return [cause] if await redis.hdel(SENDING_STOP, cause) else []


async def conexao(redis: aioredis.Redis, estado_whatsapp: str, reason: int | None) -> None:
    """Evolution's connection.update: `close` / `refused` stop every send, `open` lets them go again;
    `connecting` changes nothing (Evolution reconnects by itself, and says `open` when it has)."""
    if estado_whatsapp in WHATSAPP_FORA:
        await pause(
            redis, f"WhatsApp desconectado (estado {estado_whatsapp}, statusReason {reason})", "whatsapp"
        )
    elif estado_whatsapp == "open":
        await resume(redis, "whatsapp")


async def estado(redis: aioredis.Redis) -> SendingState:
    """The causes as stored. Raises RedisError when Redis does not answer (the commands report it)."""
    try:
        raw = await redis.hgetall(SENDING_STOP)
    except ResponseError:  # WRONGTYPE: a string flag, set by hand or by julia before the causes
        return SendingState(True, "set by hand", None, causas={"manual": "set by hand"})
    causas: dict[str, tuple[str, str | None]] = {}
    for key, valor in raw.items():
        try:
            dados = json.loads(valor)
        except ValueError:
            dados = None
        if isinstance(dados, dict):
            causas[_text(key)] = (str(dados.get("motivo")), str(dados.get("desde")))
        else:
            causas[_text(key)] = ("set by hand", None)
    if not causas:
        return SendingState(False)
    reter = retention(set(causas))
    first_one = min(causas.values(), key=lambda c: c[1] or "")
    return SendingState(
        reter == "tudo",
        first_one[0],
        first_one[1],
        campanhas=True,
        causas={c: m for c, (m, _) in causas.items()},
    )


def _text(valor: bytes | str) -> str:
    return valor.decode() if isinstance(valor, bytes) else valor
