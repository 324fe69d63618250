"""Reserving the shift a doctor accepts: one race-free statement, the cache told at once, the team told
once. The statement holds the rules (julia/sql/vagas.sql reservar_vaga): open, of the doctor's specialty,
not started, the doctor active with a CRM, no overlap with a shift they hold, at most
RESERVAS_ABERTAS_MAX awaiting confirmation; a refusal says which, truly. A doctor who loses the race (or
named a shift that cannot be theirs) gets up to three open alternatives of their specialty in their CRM's
state, so Júlia can offer them in the same reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from julia.cache import Cache, invalidate_vagas, open_vagas
from julia.data import vagas as dados_vagas
from julia.integrations import IntegrationError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack
from julia.services.plantoes import describe
from julia.services.preferences import uf_do_crm

log = logging.getLogger(__name__)

ALTERNATIVES: Final = 3

# Why a reservation did not happen, as the tool result tells Claude: the true reason, never "taken" for a
# shift that was cancelled or has started.
TAKEN: Final = "já foi reservada por outro médico"
CANCELLED: Final = "foi cancelada pelo hospital"
STARTED: Final = "já começou"
OVERLAPPING: Final = "coincide com outro plantão que o médico já tem"
NONEXISTENT: Final = "não existe"
OTHER_ESPECIALIDADE: Final = "é de outra especialidade"
WITHOUT_ESPECIALIDADE: Final = "o médico não tem especialidade cadastrada"
WITHOUT_CRM: Final = "o médico não tem CRM cadastrado"
INACTIVE: Final = "o cadastro do médico não está ativo"
LIMIT: Final = "o médico já tem {n} reservas aguardando confirmação do hospital, o máximo permitido"
# Refusals about the doctor, not the shift: offering other shifts would not help.
DO_MEDICO: Final = frozenset({WITHOUT_ESPECIALIDADE, WITHOUT_CRM, INACTIVE, LIMIT})


@dataclass(frozen=True)
class Reserva:
    reservada: bool  # the doctor holds the shift (now, or already from an earlier try)
    nova: bool  # this call made the booking: the one that notifies the team
    motivo: str | None  # why not, when not reservada (one of the constants above; LIMITE unformatted)
    vaga: dict[str, Any] | None  # the shift as it was read (None when it does not exist)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    abertas: int = 0  # the doctor's reservations awaiting confirmation when the statement started

    def explanation(self) -> str | None:
        """The reason in words, LIMITE with its number."""
        return LIMIT.format(n=self.abertas) if self.motivo == LIMIT else self.motivo


async def reserve(
    pool: asyncpg.Pool, cache: Cache, medico_id: int, vaga_id: int, *, abertas_max: int
) -> Reserva:
    """At most two Postgres round trips: the reservation statement, then (only for a doctor who did not
    get the shift for a reason of the shift, and only on a cache miss) the alternatives. `abertas_max`:
    settings.reservas_abertas_max."""
    row = await dados_vagas.reservar_vaga(pool, vaga_id, medico_id, abertas_max)
    vaga = _vaga(row, vaga_id) if row.existe else None
    if row.reservada:
        assert row.especialidade_id is not None  # reserved: the shift exists
        # After the commit (the statement committed on its own): no doctor is offered it from Redis now.
        await invalidate_vagas(cache, row.especialidade_id)
        return Reserva(True, True, None, vaga, abertas=row.abertas)
    if row.ja_era_dele and row.status_antes in ("reservada", "preenchida"):
        return Reserva(True, False, None, vaga, abertas=row.abertas)
    motivo = _reason(row, abertas_max)
    especialidade = row.especialidade_medico
    alternatives: list[dict[str, Any]] = []
    if especialidade is not None and motivo not in DO_MEDICO:
        # In the doctor's CRM state, as the context offers them (julia/services/preferences.py).
        uf = uf_do_crm(row.crm_medico)
        abertas = await open_vagas(pool, cache, especialidade, ALTERNATIVES + 1, estado=uf)
        alternatives = [v for v in abertas if v["id"] != vaga_id][:ALTERNATIVES]
    return Reserva(False, False, motivo, vaga, alternatives, abertas=row.abertas)


def _reason(row: dados_vagas.ReservaAttempt, abertas_max: int) -> str:
    """The first rule the shift or the doctor broke, in the order a person would say it: what is wrong
    with the shift itself before what is wrong with the doctor."""
    if not row.existe:
        return NONEXISTENT
    if row.especialidade_medico is None:
        return WITHOUT_ESPECIALIDADE
    if row.especialidade_id != row.especialidade_medico:
        return OTHER_ESPECIALIDADE
    if row.status_antes == "cancelada":
        return CANCELLED
    if row.status_antes in ("reservada", "preenchida"):
        return TAKEN
    if row.iniciada:
        return STARTED
    if row.status_medico != "ativo":
        return INACTIVE
    if not row.tem_crm:
        return WITHOUT_CRM
    if row.sobreposta:
        return OVERLAPPING
    if row.abertas >= abertas_max:
        return LIMIT
    return TAKEN  # open in the snapshot, and taken while we waited for the row lock


def _vaga(row: dados_vagas.ReservaAttempt, vaga_id: int) -> dict[str, Any]:
    return {
        "id": vaga_id,
        "data_plantao": row.data_plantao,
        "valor": row.valor,
        "hospital": row.hospital,
        "cidade": row.cidade,
        "estado": row.estado,
        "periodo": row.periodo,
        "hora_inicio": row.hora_inicio,
        "hora_fim": row.hora_fim,
    }


async def notify_team(
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
    texto = f"Júlia reservou a vaga {vaga_id} para {medico}: {describe(vaga)}. Confirme com o hospital."
    if slack is not None:
        try:
            await slack.notify(f":white_check_mark: {texto}")
        except IntegrationError as exc:
            log.error("reservation of shift %s not notified on Slack: %s", vaga_id, exc)
    if chatwoot is not None and chatwoot_conversa_id is not None:
        try:
            await chatwoot.private_note(chatwoot_conversa_id, texto)
        except IntegrationError as exc:
            log.error(
                "reservation note of shift %s not posted to Chatwoot #%s: %s",
                vaga_id,
                chatwoot_conversa_id,
                exc,
            )
