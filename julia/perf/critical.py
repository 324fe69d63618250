"""Realistic parameters for the critical queries (tagged `-- critical:` in julia/sql, julia.queries), drawn
from whatever database is at hand: the perf suite's seeded one, staging or production.

contar_operacao is three statements; each is measured on its own so a plan flip names its query.
A query that writes is measured inside a transaction rolled back after each call (julia.queries says how
it is recognised), so every call sees the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from julia.queries import Critical, critical
from julia.services.queues import INBOUND_TRIES, SEND_TRIES
from julia.settings import Settings
from julia.worker.rate import PRIORITY_REPLY

Params = tuple[Any, ...]

HISTORY_LIMIT = 20  # what the worker loads per reply
VAGAS_LIMIT = 10
TAG_LIMIT = 50
CLAIM_BATCH = 10
CLAIM_LEASE_S = 60.0
INBOUND_TRIES = INBOUND_TRIES  # the attempt cap on an inbound message (the sender's: SEND_TRIES)
REPLY_PRIORITY = PRIORITY_REPLY
# The send's rules as a default deployment has them (Baileys: free text needs no 24-hour window).
CAMPANHA_MAX_PER_WEEK = Settings.model_fields["campanha_max_per_week"].default
CONVERSATION_RETRY_S = Settings.model_fields["campanha_conversation_retry_s"].default
INBOUND_TEXT = "Tem plantão de clínica no sábado?"
INBOUND_REPLY = "(perf) Temos, sim."
INBOUND_ID_PREFIX = "PERFCRITICAL"  # WhatsApp ids no stored message has (the inserts are rolled back)
# The rows a worker or a sender holds: what a conclusion or a send's intent and outcome find. The seed has
# queued messages held by a sender and no inbound rows, so concluir_entrada is measured on a key that
# matches nothing there (the message path benchmark measures it on real rows).
_HELD = "WHERE status = 'processando'"

# A fixed pseudo-random sample (md5 of the key), the same on every run of the same data: lookups spread
# over the table instead of hammering one cached row.
_SAMPLE = "SELECT {cols} FROM {table} {where} ORDER BY md5(id::text) LIMIT $1"


async def _column(conn: asyncpg.Connection, cols: str, table: str, keys: int, where: str = "") -> list[Any]:
    rows = await conn.fetch(_SAMPLE.format(cols=cols, table=table, where=where), keys)
    return [tuple(row) for row in rows]


@dataclass(frozen=True)
class _Sample:
    """The keys the parameters are drawn from (each list non-empty: a key matching nothing when its
    table is empty)."""

    today: date
    doctors: list[tuple[int, str]]
    conversations: list[tuple[int]]
    specialties: list[tuple[int]]
    tags: list[tuple[str]]
    talking: list[tuple[int]]  # doctors with an active conversation
    claimed_inbound: list[tuple[int, int]]  # (id, tentativas) of inbound rows being answered
    claimed_sends: list[tuple[int, int]]  # (id, tentativas) of queued messages a sender holds


# Per critical query, in the order the perf suite measures them: the first ten in the order they had
# before the tag, so a same-run A/B against a base that predates it pairs their blocks round by round
# (julia.perf.engine.turns); a query tagged later goes last. Every tagged query has one, and only those.
_PARAMS: dict[str, Callable[[_Sample], list[Params]]] = {
    "buscar_medico_por_telefone": lambda s: [(telefone,) for _, telefone in s.doctors],
    "buscar_medico_por_id": lambda s: [(id_,) for id_, _ in s.doctors],
    "buscar_conversa_ativa": lambda s: [(id_,) for id_, _ in s.doctors],
    "carregar_historico": lambda s: [(id_, HISTORY_LIMIT) for (id_,) in s.conversations],
    # No state or city filter: the list every reply reads for a doctor without a CRM state.
    "buscar_vagas": lambda s: [(id_, s.today, VAGAS_LIMIT, None, None) for (id_,) in s.specialties],
    "buscar_medicos_por_tag": lambda s: [(tag, TAG_LIMIT) for (tag,) in s.tags],
    # Priority 0 and up: every row, as the sender claims when no stop of campaigns holds them back.
    "reivindicar_mensagens": lambda s: [(CLAIM_BATCH, CLAIM_LEASE_S, 0)],
    "contar_conversas_ativas": lambda s: [()],
    "contar_fila_pendente": lambda s: [()],
    "contar_handoffs_pendentes": lambda s: [()],
    # The message path: the webhook's one statement, the worker's claim and its conclusion (the history
    # above is the fourth); the static context is what a cache miss reads.
    "registrar_entrada": lambda s: [
        (id_, INBOUND_TEXT, f"{INBOUND_ID_PREFIX}{n}", "responder") for n, (id_,) in enumerate(s.talking)
    ],
    "reivindicar_entradas": lambda s: [(CLAIM_BATCH, CLAIM_LEASE_S, INBOUND_TRIES, [])],
    "concluir_entrada": lambda s: [
        (id_, tentativas, INBOUND_REPLY, None, REPLY_PRIORITY, False) for id_, tentativas in s.claimed_inbound
    ],
    "carregar_contexto_estatico": lambda s: [(id_,) for id_, _ in s.doctors],
    # The sender, per message: the intent before the call and the outcome after it.
    "iniciar_envio": lambda s: [
        (id_, tentativas, CLAIM_LEASE_S, SEND_TRIES, False, CAMPANHA_MAX_PER_WEEK, CONVERSATION_RETRY_S)
        for id_, tentativas in s.claimed_sends
    ],
    "marcar_enviada": lambda s: [
        (id_, tentativas, f"{INBOUND_ID_PREFIX}S{id_}") for id_, tentativas in s.claimed_sends
    ],
    # An opt-out: the doctor's row, then every unsent message of theirs.
    "registrar_opt_out": lambda s: [(id_,) for id_, _ in s.doctors],
    "cancelar_envios_pendentes": lambda s: [(id_,) for id_, _ in s.doctors],
}


def _measured() -> tuple[Critical, ...]:
    tagged = critical()
    if set(tagged) != set(_PARAMS):
        raise RuntimeError(
            "julia/perf/critical.py draws parameters for other queries than julia/sql tags critical: "
            f"untagged {sorted(set(_PARAMS) - set(tagged))}, "
            f"without parameters {sorted(set(tagged) - set(_PARAMS))}"
        )
    return tuple(tagged[name] for name in _PARAMS)


CRITICAL: tuple[Critical, ...] = _measured()


async def pick_params(
    conn: asyncpg.Connection, keys: int = 64, today: date | None = None
) -> dict[str, list[Params]]:
    """Per critical query, up to `keys` parameter tuples (one matching nothing when a table is empty)."""
    tags = [
        tuple(r)
        for r in await conn.fetch(
            "SELECT tag FROM (SELECT unnest(tags) AS tag FROM clientes) t "
            "GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $1",
            keys,
        )
    ] or [("nenhuma",)]
    sample = _Sample(
        today=today or date.today(),
        doctors=await _column(conn, "id, telefone", "clientes", keys) or [(0, "+5500000000000")],
        conversations=await _column(conn, "id", "conversations", keys) or [(0,)],
        specialties=await _column(conn, "id", "especialidades", keys) or [(0,)],
        tags=tags,
        talking=await _column(conn, "cliente_id", "conversations", keys, "WHERE status = 'ativa'") or [(0,)],
        claimed_inbound=await _column(conn, "id, tentativas", "entradas", keys, _HELD) or [(0, 1)],
        claimed_sends=await _column(conn, "id, tentativas", "fila_mensagens", keys, _HELD) or [(0, 1)],
    )
    return {name: build(sample) for name, build in _PARAMS.items()}
