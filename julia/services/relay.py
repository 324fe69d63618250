"""An agent's reply written in Chatwoot, relayed to the doctor on WhatsApp (docs/deploy.md#chatwoot).

The Chatwoot webhook (`message_created`, julia/api/chatwoot.py) reads the reply
(julia.integrations.chatwoot.mensagem_de_agente: outgoing, not private, a person's, without julia's mark)
and queues it here, in the doctor's conversation, through the same send queue, rate limits and delivery
protocol as Júlia's replies (julia/worker/sender.py): once in Postgres before the webhook's 200, once on
WhatsApp (a redelivered webhook queues nothing: fila_mensagens.chatwoot_message_id is unique), never
mirrored back to Chatwoot (it is there already), stored in the history as the person's once sent.

A doctor who opted out or is blocked is never sent an agent's message, checked here and again right before
the send (iniciar_envio); the agent then gets a private note in the conversation saying why, as when julia
does not know the conversation: nothing an agent writes meets silence.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from julia.data import Executor, conversations, fila_mensagens
from julia.integrations import IntegrationError
from julia.integrations.chatwoot import AgentMessage, Chatwoot

log = logging.getLogger(__name__)

# A reply's class for the rate limiter (>= PRIORIDADE_RESPOSTA in julia/worker/rate.py): the doctor is
# waiting for a person, as for Júlia's replies.
PRIORITY_AGENT: Final = 8

NOTE_REFUSAL: Final = (
    "Mensagem não enviada ao médico: ele pediu para não receber mensagens (opt-out) ou está bloqueado. "
    "Nada saiu pelo WhatsApp."
)
NOTE_UNKNOWN: Final = (
    "Mensagem não enviada: a Júlia não conhece esta conversa (nenhuma mensagem dela foi espelhada aqui). "
    "Nada saiu pelo WhatsApp; escreva na conversa do médico que a Júlia espelhou."
)

NOTE_NOT_SENT: Final = "Mensagem não enviada ao médico: o envio falhou vezes demais. Nada saiu pelo WhatsApp."
# On the Cloud API, past 24 hours since the doctor last wrote (julia/worker/channel.py).
NOTE_WAITING: Final = (
    "Mensagem ainda não enviada: o médico não escreve há mais de 24 horas, e a Meta só aceita um modelo "
    "aprovado. Ele recebeu um modelo pedindo que responda; a sua mensagem vai assim que ele responder."
)
NOTE_ATTACHMENT: Final = (
    "Anexo não enviado ao médico: a Júlia só envia o texto das mensagens pelo WhatsApp. Escreva o que "
    "o anexo diz, ou envie-o pelo celular da linha."
)

Relay = Literal["enfileirada", "recusada", "repetida", "desconhecida", "sem_texto"]


def note(relay: Relay, message: AgentMessage) -> str | None:
    """What the agent is told in a private note after the webhook (None: nothing to say). Once per
    message: a redelivery ('repetida') says nothing again."""
    if relay == "recusada":
        return NOTE_REFUSAL
    if relay == "desconhecida":
        return NOTE_UNKNOWN
    if relay in ("sem_texto", "enfileirada") and message.attachments:
        return NOTE_ATTACHMENT
    return None


async def relay_message(db: Executor, message: AgentMessage) -> Relay:
    """Queue the agent's reply for the doctor of its Chatwoot conversation: 'enfileirada'; 'recusada' (the
    doctor opted out or is blocked; recorded, never sent); 'repetida' (queued before: a redelivery);
    'desconhecida' (no conversation of julia's is mirrored there); 'sem_texto' (attachments only, which
    julia does not send)."""
    conversa = await conversations.conversa_por_chatwoot(db, message.conversa_chatwoot)
    if conversa is None:
        return "desconhecida"
    if not message.texto:
        return "sem_texto"
    status = await fila_mensagens.repassar_mensagem_agente(
        db, conversa.cliente_id, conversa.id, message.id, message.texto, PRIORITY_AGENT
    )
    if status is None:
        return "repetida"
    return "recusada" if status == "cancelada" else "enfileirada"


async def notify_agent(chatwoot: Chatwoot, conversa_chatwoot: int, texto: str) -> None:
    """A private note to the agents in the conversation; best effort (logged when Chatwoot fails)."""
    try:
        await chatwoot.private_note(conversa_chatwoot, texto)
    except IntegrationError as exc:
        log.error("note to the agents of Chatwoot #%s not posted (%s): %s", conversa_chatwoot, texto, exc)
