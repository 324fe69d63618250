"""Handoff between Júlia and a person: the state change in Postgres, then the side effects (Slack,
the Chatwoot label), which never undo the state change when they fail."""

from __future__ import annotations

import logging
import re
import unicodedata

from julia.data import Executor
from julia.integrations import IntegracaoError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.slack import Slack
from julia.queries import sql

log = logging.getLogger(__name__)

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


async def passar_para_humano(conn: Executor, conversa_id: int, motivo: str) -> int | None:
    """controlled_by -> 'humano' and a handoffs row; the handoff id, or None when a person already had it."""
    handoff_id = await conn.fetchval(sql("passar_para_humano"), conversa_id, motivo)
    return int(handoff_id) if handoff_id is not None else None


async def devolver_para_julia(conn: Executor, conversa_id: int) -> None:
    """controlled_by -> 'julia'; the conversation's open handoffs resolved."""
    await conn.fetch(sql("devolver_para_julia"), conversa_id)


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
        try:
            await slack.notificar(f":raising_hand: Handoff para humano: {telefone}{link}. Motivo: {motivo}")
        except IntegracaoError as exc:
            log.error("handoff of %s not notified on Slack: %s", telefone, exc)
    if rotular and chatwoot is not None and chatwoot_conversa_id is not None:
        try:
            await chatwoot.adicionar_rotulo(chatwoot_conversa_id)
        except IntegracaoError as exc:
            log.error("label 'humano' not added to Chatwoot #%s: %s", chatwoot_conversa_id, exc)
