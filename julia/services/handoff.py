"""Handoff between Júlia and a person: the state change in Postgres, then the side effects (Slack,
the Chatwoot label), which never undo the state change when they fail."""

from __future__ import annotations

import logging
import re
import unicodedata

# The state change is one statement of the handoffs table, run by the API and the worker as
# handoff.passar_para_humano / handoff.devolver_para_julia; the side effects are this module's own.
from julia.data.handoffs import devolver_para_julia as devolver_para_julia
from julia.data.handoffs import passar_para_humano as passar_para_humano
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
