"""Reserving the shift a doctor accepts: one race-free statement, the cache told at once, the team told
once. A doctor who loses the race (or named a shift that cannot be theirs) gets up to three open
alternatives of their specialty, so Júlia can offer them in the same reply."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import asyncpg

from julia.cache import Cache, invalidar_vagas, vagas_abertas
from julia.data import vagas as dados_vagas
from julia.integrations import IntegracaoError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack

log = logging.getLogger(__name__)

ALTERNATIVAS: Final = 3

# Why a reservation did not happen, as the tool result tells Claude.
TOMADA: Final = "já foi reservada por outro médico"
INEXISTENTE: Final = "não existe"
OUTRA_ESPECIALIDADE: Final = "é de outra especialidade"
SEM_ESPECIALIDADE: Final = "o médico não tem especialidade cadastrada"


@dataclass(frozen=True)
class Reserva:
    reservada: bool  # the doctor holds the shift (now, or already from an earlier try)
    nova: bool  # this call made the booking: the one that notifies the team
    motivo: str | None  # why not, when not reservada
    vaga: dict[str, Any] | None  # the shift as it was read (None when it does not exist)
    alternativas: list[dict[str, Any]] = field(default_factory=list)


async def reservar(pool: asyncpg.Pool, cache: Cache, medico_id: int, vaga_id: int) -> Reserva:
    """At most two Postgres round trips: the reservation statement, then (only for a doctor who did not
    get the shift, and only on a cache miss) the alternatives."""
    row = await dados_vagas.reservar_vaga(pool, vaga_id, medico_id)
    vaga = _vaga(row, vaga_id) if row["existe"] else None
    if row["reservada"]:
        # After the commit (the statement committed on its own): no doctor is offered it from Redis now.
        await invalidar_vagas(cache, row["especialidade_id"])
        return Reserva(True, True, None, vaga)
    if row["ja_era_dele"] and row["status_antes"] in ("reservada", "preenchida"):
        return Reserva(True, False, None, vaga)
    especialidade = row["especialidade_medico"]
    if not row["existe"]:
        motivo = INEXISTENTE
    elif especialidade is None:
        motivo = SEM_ESPECIALIDADE
    elif row["especialidade_id"] != especialidade:
        motivo = OUTRA_ESPECIALIDADE
    else:
        motivo = TOMADA  # not open in the snapshot, or open there and taken while we waited for the lock
    alternativas: list[dict[str, Any]] = []
    if especialidade is not None:
        abertas = await vagas_abertas(pool, cache, especialidade, ALTERNATIVAS + 1)
        alternativas = [v for v in abertas if v["id"] != vaga_id][:ALTERNATIVAS]
    return Reserva(False, False, motivo, vaga, alternativas)


def _vaga(row: asyncpg.Record, vaga_id: int) -> dict[str, Any]:
    campos = ("data_plantao", "valor", "hospital", "cidade", "estado", "periodo", "hora_inicio", "hora_fim")
    return {"id": vaga_id, **{k: row[k] for k in campos}}


def descrever(vaga: dict[str, Any]) -> str:
    """A shift as people read it: 05/12/2026, Noturno (19:00-07:00), Hospital X, Santos/SP: R$ 1.500,00.
    Dates, times and values may be Python objects (Postgres) or ISO / decimal strings (the cache)."""
    data = dt.date.fromisoformat(str(vaga["data_plantao"]))
    inicio, fim = (dt.time.fromisoformat(str(vaga[k])) for k in ("hora_inicio", "hora_fim"))
    valor = f"{Decimal(str(vaga['valor'])):,.2f}".translate(str.maketrans(",.", ".,"))
    return (
        f"{data:%d/%m/%Y}, {vaga['periodo']} ({inicio:%H:%M}-{fim:%H:%M}), {vaga['hospital']}, "
        f"{vaga['cidade']}/{vaga['estado']}: R$ {valor}"
    )


async def avisar_equipe(
    slack: Slack | None,
    chatwoot: Chatwoot | None,
    *,
    vaga_id: int,
    vaga: dict[str, Any],
    medico: str,
    chatwoot_conversa_id: int | None,
) -> None:
    """Tell the coordinators a new reservation exists (Slack, and a private note in the doctor's Chatwoot
    conversation). Best effort, like the handoff alert: the reservation stands whatever happens here."""
    texto = f"Júlia reservou a vaga {vaga_id} para {medico}: {descrever(vaga)}. Confirme com o hospital."
    if slack is not None:
        try:
            await slack.notificar(f":white_check_mark: {texto}")
        except IntegracaoError as exc:
            log.error("reservation of shift %s not notified on Slack: %s", vaga_id, exc)
    if chatwoot is not None and chatwoot_conversa_id is not None:
        try:
            await chatwoot.nota_privada(chatwoot_conversa_id, texto)
        except IntegracaoError as exc:
            log.error(
                "reservation note of shift %s not posted to Chatwoot #%s: %s",
                vaga_id,
                chatwoot_conversa_id,
                exc,
            )
