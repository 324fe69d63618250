"""The critical queries (the business's list, by their julia/sql names) and realistic parameters for
them, drawn from whatever database is at hand: the perf suite's seeded one, staging or production.

contar_operacao is three statements; each is measured on its own so a plan flip names its query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

Params = tuple[Any, ...]


@dataclass(frozen=True)
class Critical:
    name: str
    mutates: bool = False  # run inside a transaction that is rolled back, so every call sees the same rows


CRITICAL: tuple[Critical, ...] = (
    Critical("buscar_medico_por_telefone"),
    Critical("buscar_medico_por_id"),
    Critical("buscar_conversa_ativa"),
    Critical("carregar_historico"),
    Critical("buscar_vagas"),
    Critical("buscar_medicos_por_tag"),
    Critical("reivindicar_mensagens", mutates=True),
    Critical("contar_conversas_ativas"),
    Critical("contar_fila_pendente"),
    Critical("contar_handoffs_pendentes"),
)

HISTORY_LIMIT = 20  # what the worker loads per reply
VAGAS_LIMIT = 10
TAG_LIMIT = 50
CLAIM_BATCH = 10
CLAIM_LEASE_S = 60.0

# A fixed pseudo-random sample (md5 of the key), the same on every run of the same data: lookups spread
# over the table instead of hammering one cached row.
_SAMPLE = "SELECT {cols} FROM {table} {where} ORDER BY md5(id::text) LIMIT $1"


async def _column(conn: asyncpg.Connection, cols: str, table: str, keys: int, where: str = "") -> list[Any]:
    rows = await conn.fetch(_SAMPLE.format(cols=cols, table=table, where=where), keys)
    return [tuple(row) for row in rows]


async def pick_params(
    conn: asyncpg.Connection, keys: int = 64, today: date | None = None
) -> dict[str, list[Params]]:
    """Per critical query, up to `keys` parameter tuples (one matching nothing when a table is empty)."""
    today = today or date.today()
    doctors = await _column(conn, "id, telefone", "clientes", keys) or [(0, "+5500000000000")]
    conversations = await _column(conn, "id", "conversations", keys) or [(0,)]
    specialties = await _column(conn, "id", "especialidades", keys) or [(0,)]
    tags = [
        tuple(r)
        for r in await conn.fetch(
            "SELECT tag FROM (SELECT unnest(tags) AS tag FROM clientes) t "
            "GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $1",
            keys,
        )
    ] or [("nenhuma",)]
    return {
        "buscar_medico_por_telefone": [(telefone,) for _, telefone in doctors],
        "buscar_medico_por_id": [(id_,) for id_, _ in doctors],
        "buscar_conversa_ativa": [(id_,) for id_, _ in doctors],
        "carregar_historico": [(id_, HISTORY_LIMIT) for (id_,) in conversations],
        # No state or city filter: the list every reply reads for a doctor without a CRM state.
        "buscar_vagas": [(id_, today, VAGAS_LIMIT, None, None) for (id_,) in specialties],
        "buscar_medicos_por_tag": [(tag, TAG_LIMIT) for (tag,) in tags],
        "reivindicar_mensagens": [(CLAIM_BATCH, CLAIM_LEASE_S, 0)],
        "contar_conversas_ativas": [()],
        "contar_fila_pendente": [()],
        "contar_handoffs_pendentes": [()],
    }
