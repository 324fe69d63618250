"""Handoff between Júlia and a person, one workflow: `hand_over` makes the state change in Postgres
(julia/data/handoffs.py) on the caller's connection and returns the new handoff, whose `notify` sends its
notices (Slack, the Chatwoot label) once the caller has committed; they never undo the state change when
they fail. The agents' label in Chatwoot drives it too (`follow_label`, for julia/api/chatwoot.py)."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

import asyncpg

from julia.data import Executor, clientes, conversations
from julia.data.handoffs import devolver_para_julia, passar_para_humano
from julia.integrations import IntegrationError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack, literal_text

log = logging.getLogger(__name__)

MAX_REASON = 300  # a sentence, as pedir_humano asks for; a longer reason is cut on Slack, not refused

# A doctor asking for a person, in the ways Brazilians write it (accents and case folded away first).
_ASKS_HUMAN = re.compile(
    r"\b(falar|conversar|atendimento|atender|passa|passe|chama|chamar|quero|preciso)\b.{0,30}"
    r"\b(humano|humana|pessoa|atendente|alguem|gente de verdade|responsavel|gerente|coordenador|coordenadora|"
    r"supervisor|supervisora)\b"
    r"|\b(atendente|humano)\b\s*(por favor|pf|pfv)?\s*[?!.]*$"
    r"|\bvoce e (um )?robo\b.{0,40}\b(pessoa|humano)\b"
)


def asks_human(texto: str) -> bool:
    """Simple keyword detection: good enough to stop Júlia when a doctor plainly asks for a person."""
    simple = unicodedata.normalize("NFKD", texto.lower()).encode("ascii", "ignore").decode()
    return _ASKS_HUMAN.search(simple) is not None


@dataclass(frozen=True)
class Handoff:
    """A new handoff: what its notices say. Its state change is on the caller's connection, so the caller
    calls `notify` after committing it (a notice never goes out for a handoff that rolled back)."""

    telefone: str  # the doctor's
    motivo: str

    async def notify(
        self, slack: Slack | None, chatwoot: Chatwoot | None, *, chatwoot_conversa_id: int | None, label: bool
    ) -> None:
        """Slack, and the label `humano` on the Chatwoot conversation when `label` (not when the label is
        what made the handoff). Best effort: a person will see the label or the Slack alert."""
        if slack is not None:
            link = f" (Chatwoot #{chatwoot_conversa_id})" if chatwoot_conversa_id else ""
            # The reason is Claude's words, which a doctor's message can steer: printed, never a mention
            # or link.
            literal_reason = literal_text(self.motivo, MAX_REASON)
            try:
                await slack.notify(
                    f":raising_hand: Handoff para humano: {self.telefone}{link}. Motivo: {literal_reason}"
                )
            except IntegrationError as exc:
                log.error("handoff of %s not notified on Slack: %s", self.telefone, exc)
        if label and chatwoot is not None and chatwoot_conversa_id is not None:
            try:
                await chatwoot.add_label(chatwoot_conversa_id)
            except IntegrationError as exc:
                log.error("label 'humano' not added to Chatwoot #%s: %s", chatwoot_conversa_id, exc)


async def hand_over(db: Executor, conversa_id: int, motivo: str, *, telefone: str) -> Handoff | None:
    """A person takes the conversation of the doctor at `telefone` (Júlia's tool, a doctor who asked for
    one, the agents' label): its control and a handoffs row in one statement, on `db` (a transaction's
    connection when the caller also ends the inbound message in it). The new handoff, to `notify` after
    the commit; None when a person already had it, so nobody is notified twice."""
    handoff_id = await passar_para_humano(db, conversa_id, motivo)
    return None if handoff_id is None else Handoff(telefone, motivo)


@dataclass(frozen=True)
class LabelChange:
    """What the label did to a conversation julia knows: the new handoff (None when a person already had
    it, or it went back to Júlia), to notify after the commit."""

    handoff: Handoff | None = None


async def follow_label(
    pool: asyncpg.Pool, chatwoot_id: int, *, human: bool, give_back: bool, motivo: str
) -> LabelChange | None:
    """The agents' label `humano` on Chatwoot conversation `chatwoot_id`: present (`humano`), a person
    takes over; gone or the conversation resolved (`devolver`), Júlia takes it back and the handoff is
    resolved. One transaction; both are state transitions, so a redelivered webhook changes nothing twice.
    None when julia mirrors no conversation to `chatwoot_id`."""
    async with pool.acquire(timeout=10) as conn, conn.transaction():
        conversa = await conversations.conversa_por_chatwoot(conn, chatwoot_id)
        if conversa is None:
            return None
        if human:
            telefone = await clientes.destino_mensagem(conn, conversa.cliente_id)
            assert telefone is not None  # conversations.cliente_id references clientes: the doctor exists
            return LabelChange(await hand_over(conn, conversa.id, motivo, telefone=telefone))
        if give_back:
            await devolver_para_julia(conn, conversa.id)
    return LabelChange()
