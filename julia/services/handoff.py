"""Handoff between Júlia and a person: the state change in Postgres (julia/data/handoffs.py), then the
side effects (Slack, the Chatwoot label), which never undo the state change when they fail. The agents'
label in Chatwoot drives it too (`follow_label`, for julia/api/chatwoot.py)."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

import asyncpg

from julia.data import Executor, clientes, conversations
from julia.data.handoffs import devolver_para_julia, passar_para_humano
from julia.integrations import IntegracaoError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack, texto_literal

log = logging.getLogger(__name__)

MAX_MOTIVO = 300  # a sentence, as pedir_humano asks for; a longer reason is cut on Slack, not refused

# A doctor asking for a person, in the ways Brazilians write it (accents and case folded away first).
_PEDE_HUMANO = re.compile(
    r"\b(falar|conversar|atendimento|atender|passa|passe|chama|chamar|quero|preciso)\b.{0,30}"
    r"\b(humano|humana|pessoa|atendente|alguem|gente de verdade|responsavel|gerente|coordenador|coordenadora|"
    r"supervisor|supervisora)\b"
    r"|\b(atendente|humano)\b\s*(por favor|pf|pfv)?\s*[?!.]*$"
    r"|\bvoce e (um )?robo\b.{0,40}\b(pessoa|humano)\b"
)


def pede_humano(texto: str) -> bool:
    """Simple keyword detection: good enough to stop Júlia when a doctor plainly asks for a person."""
    simples = unicodedata.normalize("NFKD", texto.lower()).encode("ascii", "ignore").decode()
    return _PEDE_HUMANO.search(simples) is not None


async def hand_over(db: Executor, conversa_id: int, motivo: str) -> int | None:
    """A person takes the conversation (Júlia's tool or a doctor who asked for one): its control and a
    handoffs row in one statement, on `db` (a transaction's connection when the caller also ends the
    inbound message in it). The new handoff's id; None when a person already had it, so nobody is
    notified twice."""
    return await passar_para_humano(db, conversa_id, motivo)


async def avisar(
    slack: Slack | None,
    chatwoot: Chatwoot | None,
    *,
    telefone: str,
    motivo: str,
    chatwoot_conversa_id: int | None,
    rotular: bool,
) -> None:
    """The side effects of a new handoff. Best effort: a person will see the label or the Slack alert."""
    if slack is not None:
        link = f" (Chatwoot #{chatwoot_conversa_id})" if chatwoot_conversa_id else ""
        # The reason is Claude's words, which a doctor's message can steer: printed, never a mention or link.
        motivo_literal = texto_literal(motivo, MAX_MOTIVO)
        try:
            await slack.notificar(
                f":raising_hand: Handoff para humano: {telefone}{link}. Motivo: {motivo_literal}"
            )
        except IntegracaoError as exc:
            log.error("handoff of %s not notified on Slack: %s", telefone, exc)
    if rotular and chatwoot is not None and chatwoot_conversa_id is not None:
        try:
            await chatwoot.adicionar_rotulo(chatwoot_conversa_id)
        except IntegracaoError as exc:
            log.error("label 'humano' not added to Chatwoot #%s: %s", chatwoot_conversa_id, exc)


@dataclass(frozen=True)
class LabelChange:
    """What the label did to a conversation julia knows: `handoff_id` of a new handoff (None when a
    person already had it, or it went back to Júlia) and the doctor's number for its Slack notice."""

    handoff_id: int | None = None
    telefone: str | None = None


async def follow_label(
    pool: asyncpg.Pool, chatwoot_id: int, *, humano: bool, devolver: bool, motivo: str
) -> LabelChange | None:
    """The agents' label `humano` on Chatwoot conversation `chatwoot_id`: present (`humano`), a person
    takes over; gone or the conversation resolved (`devolver`), Júlia takes it back and the handoff is
    resolved. One transaction; both are state transitions, so a redelivered webhook changes nothing twice.
    None when julia mirrors no conversation to `chatwoot_id`."""
    async with pool.acquire(timeout=10) as conn, conn.transaction():
        conversa = await conversations.conversa_por_chatwoot(conn, chatwoot_id)
        if conversa is None:
            return None
        if humano:
            handoff_id = await passar_para_humano(conn, conversa["id"], motivo)
            return LabelChange(handoff_id, await clientes.destino_mensagem(conn, conversa["cliente_id"]))
        if devolver:
            await devolver_para_julia(conn, conversa["id"])
    return LabelChange()
