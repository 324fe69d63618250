"""Telling a doctor what happened to a shift they hold, through the normal send queue: a coordinator
changed or cancelled it (PATCH /admin/vagas/{id}), confirmed it, or nobody confirmed it in time and it went
back to open (the worker's sweep). The change and its notice commit together: a shift never changes
without its holder's notice queued, and a notice never goes out for a change that rolled back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Final

import asyncpg

from julia.cache import Cache, codec, invalidate_vagas
from julia.clock import weekday
from julia.data import fila_mensagens
from julia.data import vagas as dados_vagas
from julia.services.plantoes import describe, value_in_reais
from julia.templates import TEMPLATES, TemplateMessage

log = logging.getLogger(__name__)

# Below a reply (8: a doctor waiting) and above a campaign (2): nobody is waiting, but it is about a
# commitment the doctor made; it shares the campaign lane's rate (julia/worker/rate.py).
PRIORITY_AVISO: Final = 5
EXPIRED_PER_ROUND: Final = 100  # one sweep's batch; a backlog clears a hundred a minute

CAMPOS_VAGA: Final = frozenset({"status", "valor", "data_plantao"})
# What PATCH /admin/vagas answers: the shift's own columns, not what the notice needed.
VAGA_COLUMNS: Final = (
    "id",
    "hospital_id",
    "especialidade_id",
    "periodo_id",
    "data_plantao",
    "valor",
    "status",
    "cliente_id",
    "reservada_em",
)
HELD: Final = ("reservada", "preenchida")

# The doctor's sending window (CAMPANHA_HORA_INICIO/FIM on their clock, weekends, holidays) holds a notice
# like a campaign's message, since nobody asked for it (issue 36: business-initiated messages respect it),
# except one about a shift today or tomorrow on the doctor's clock, which goes at any hour: a cancellation
# of tonight's or tomorrow morning's shift held until 08:00 would reach the doctor on the way to the
# hospital, or there (julia/sql/fila_mensagens.sql, enfileirar_avisos).
# Each notice is an approved template (julia/templates.py): on the Cloud API a notice may reach a doctor who
# has not written in 24 hours, which only a template can; on a Baileys number its body goes as text.
CANCELLED: Final = TEMPLATES["plantao_cancelado"]
RELEASED: Final = TEMPLATES["reserva_desfeita"]
CONFIRMED: Final = TEMPLATES["plantao_confirmado"]
CHANGED: Final = TEMPLATES["plantao_alterado"]
EXPIRED: Final = TEMPLATES["reserva_expirada"]


def change_aviso(vaga: dados_vagas.UpdatedVaga) -> TemplateMessage | None:
    """The notice for the doctor who held the shift before this edit (None when nobody held it or nothing
    they care about changed)."""
    if vaga.cliente_antes is None or vaga.status_antes not in HELD:
        return None
    description = describe(asdict(vaga))
    if vaga.status == "cancelada":
        return TemplateMessage(CANCELLED, (description,))
    if vaga.status == "aberta":
        return TemplateMessage(RELEASED, (description,))
    changes = []
    if vaga.data_plantao != vaga.data_antes:
        antes, depois = vaga.data_antes, vaga.data_plantao
        changes.append(
            f"a data passou de {weekday(antes)}, {antes:%d/%m/%Y} para {weekday(depois)}, {depois:%d/%m/%Y}"
        )
    if vaga.valor != vaga.valor_antes:
        changes.append(
            f"o valor passou de {value_in_reais(vaga.valor_antes)} para {value_in_reais(vaga.valor)}"
        )
    if changes:
        return TemplateMessage(CHANGED, ("; ".join(changes), description))
    if vaga.status == "preenchida" and vaga.status_antes == "reservada":
        return TemplateMessage(CONFIRMED, (description,))
    return None


async def change_vaga(
    pool: asyncpg.Pool, cache: Cache, vaga_id: int, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply any of `status`, `valor` (a decimal string), `data_plantao` (ISO), queue the notice to the
    doctor who held the shift in the same transaction, then invalidate the specialty's lists; the shift,
    or None if absent. CheckViolationError: a held status with no doctor."""
    unknown_ones = set(changes) - CAMPOS_VAGA
    if unknown_ones:
        raise ValueError(f"fields a shift update cannot change: {sorted(unknown_ones)}")
    async with pool.acquire() as conn, conn.transaction():
        row = await dados_vagas.atualizar_vaga(conn, vaga_id, changes)
        if row is None:
            return None
        aviso = change_aviso(row)
        if aviso is not None:
            assert row.cliente_antes is not None  # a notice goes only to a doctor who held the shift
            # The earlier of the two dates: a shift moved away from tomorrow is as urgent as one moved to it.
            day = min(row.data_antes, row.data_plantao)
            await fila_mensagens.enfileirar_avisos(conn, [(row.cliente_antes, aviso, day)], PRIORITY_AVISO)
    await invalidate_vagas(cache, row.especialidade_id)
    vaga: dict[str, Any] = codec.plain({k: getattr(row, k) for k in VAGA_COLUMNS})
    return vaga


async def expirar_reservas(pool: asyncpg.Pool, cache: Cache, age_s: int) -> int:
    """Reopen the reservations nobody confirmed within `age_s` seconds (settings.reserva_confirmacao_s)
    and queue each doctor's notice, in one transaction; how many. The worker runs it every minute."""
    async with pool.acquire() as conn, conn.transaction():
        vencidas = await dados_vagas.expirar_reservas(conn, age_s, EXPIRED_PER_ROUND)
        await fila_mensagens.enfileirar_avisos(
            conn,
            [
                (v.cliente_id, TemplateMessage(EXPIRED, (describe(asdict(v)),)), v.data_plantao)
                for v in vencidas
            ],
            PRIORITY_AVISO,
        )
    for especialidade in {v.especialidade_id for v in vencidas}:
        await invalidate_vagas(cache, especialidade)
    if vencidas:
        log.info("%d unconfirmed reservations reopened, their doctors told", len(vencidas))
    return len(vencidas)
