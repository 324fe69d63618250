"""The emergency stop of sending: a Redis flag the sender reads before it claims each batch.

While `julia:envio:pausado` exists the sender claims nothing: queued messages stay 'pendente' in
fila_mensagens (none is lost, none spends a try or ends in 'erro') and go out in their usual order once
the flag is removed. Only the WhatsApp send stops; webhooks are still stored and replies still written
and queued. `julia pause-sending` / `julia resume-sending` set and clear it (julia/commands/pausa.py).

No TTL: an emergency stop lasts until a person lifts it, across worker restarts.

The flag lives here, beside the other operations the CLI and the health check share; the sender's own
never-raising question ("may I claim?") is julia/worker/pausa.py.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import redis.asyncio as aioredis

CHAVE = "julia:envio:pausado"


@dataclass(frozen=True)
class EstadoEnvio:
    pausado: bool
    motivo: str | None = None
    desde: str | None = None  # ISO 8601, UTC

    def linha(self) -> str:
        if not self.pausado:
            return "sending: running"
        return f"sending: PAUSED since {self.desde} (reason: {self.motivo}); queued messages wait"


async def pausar(redis: aioredis.Redis, motivo: str) -> EstadoEnvio:
    """Set the flag (again: the reason and time are replaced)."""
    desde = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    await redis.set(CHAVE, json.dumps({"motivo": motivo, "desde": desde}))
    return EstadoEnvio(True, motivo, desde)


async def retomar(redis: aioredis.Redis) -> bool:
    """Remove the flag; True when sending was paused."""
    return bool(await redis.delete(CHAVE))


async def estado(redis: aioredis.Redis) -> EstadoEnvio:
    """The flag as stored. Raises RedisError when Redis does not answer (the commands report it)."""
    bruto = await redis.get(CHAVE)
    if bruto is None:
        return EstadoEnvio(False)
    try:
        dados = json.loads(bruto)
    except ValueError:  # set by hand (`SET julia:envio:pausado 1`): still a stop
        return EstadoEnvio(True, "set by hand", None)
    if not isinstance(dados, dict):
        return EstadoEnvio(True, "set by hand", None)
    return EstadoEnvio(True, str(dados.get("motivo")), str(dados.get("desde")))
