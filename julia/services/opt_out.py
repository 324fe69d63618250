"""Opt-out: a doctor who asks Júlia to stop is opt_out at once (issue 15, LGPD), and it always wins
(issue 33): whoever controls the conversation, whatever is queued, whatever Claude is writing.

In ONE transaction (the caller's): the doctor becomes `opt_out`, every message to them not yet handed to
Evolution is cancelled (campaign rows and queued replies alike), and one fixed confirmation is queued.
After that no campaign queues them (criar_campanha) nor sends to them (iniciar_envio, read right before
the send), no reply is queued to them (entradas.sql concluir_entrada), and a message they write reaches
a person through Chatwoot, never Claude (julia/worker/reply.py, SEM_RESPOSTA).

Three ways in, all ending here with the same confirmation:
- `asks_opt_out`: the stop words, checked by the webhook in the transaction that stores the message
  (julia/services/inbound.py), so the opt-out never waits behind the doctor's earlier messages;
- `register_opt_out_tool`: Claude's `registrar_opt_out {}` tool, for other ways of saying it;
- `confirms_opt_out`: the backstop, when Claude's reply says the doctor will get nothing more and no tool
  recorded it (julia/worker/reply.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from julia.data import Executor, clientes, fila_mensagens

CONFIRMATION = "Pronto, você não vai mais receber mensagens de oferta de plantão da Júlia."
# Promised only where a person can read what the doctor writes next: with Chatwoot configured.
CONFIRMATION_BY_TEAM = (
    CONFIRMATION + " Se precisar de algo, é só escrever aqui: uma pessoa da nossa equipe responde."
)
# Above a reply (8): the doctor asked us to stop, and the confirmation is the one thing still owed.
PRIORITY_CONFIRMATION = 9
# The whole message, once accents, case and punctuation are gone. Whole-message on purpose: "não quero
# sair do plantão" or "pode parar de reservar?" must not opt anyone out; Claude's tool catches the rest.
REQUESTS = frozenset(
    {
        "parar",
        "pare",
        "sair",
        "stop",
        "descadastrar",
        "nao quero mais receber",
        "nao quero receber mais",
        "nao quero mais receber mensagens",
        "nao quero mais receber mensagem",
    }
)
_NOT_LETTER = re.compile(r"[^a-z0-9]+")
# Júlia telling the doctor they will get nothing more: "não vai mais receber", "não receberá mais",
# "não enviaremos mais", "removi seu número da lista", "descadastrado". Read on Claude's reply only.
_CONFIRMS = re.compile(
    r"\bnao (vai|vao|ira|irao) (mais receber|receber mais)\b"
    r"|\bnao (recebera|receberao) mais\b"
    r"|\bnao (vamos|iremos) mais (enviar|mandar)\b"
    r"|\bnao (enviaremos|mandaremos|enviarei|mandarei) mais\b"
    r"|\b(removi|removemos|retirei|retiramos|tirei|tiramos)\b.{0,30}\blista\b"
    r"|\bdescadastrad[oa]\b"
)
TOOL_RESULT = (
    "opt_out registrado: o médico não receberá mais mensagens e as pendentes foram canceladas. A "
    "confirmação já foi enviada a ele por uma mensagem fixa: não escreva outra, nem ofereça plantões."
)


def _simple(texto: str) -> str:
    return unicodedata.normalize("NFKD", texto.lower()).encode("ascii", "ignore").decode()


def asks_opt_out(texto: str) -> bool:
    """Is the whole message one of the stop words (PARAR, SAIR, "não quero mais receber"...)?"""
    return _NOT_LETTER.sub(" ", _simple(texto)).strip() in REQUESTS


def confirms_opt_out(resposta: str) -> bool:
    """Does Júlia's reply tell the doctor they will receive nothing more (an opt-out Claude agreed to)?"""
    return _CONFIRMS.search(_NOT_LETTER.sub(" ", _simple(resposta))) is not None


def confirmation(*, with_team: bool) -> str:
    return CONFIRMATION_BY_TEAM if with_team else CONFIRMATION


async def registrar_opt_out(conn: Executor, cliente_id: int, conversa_id: int, *, with_team: bool) -> bool:
    """opt_out, every unsent message cancelled and the confirmation queued, inside the caller's
    transaction (`with_team`: Chatwoot is configured, so the confirmation may promise a person). False
    when the doctor already was opt_out: nothing is queued twice. The caller invalidates the cached
    doctor after commit (julia.cache.invalidar_medico)."""
    if not await clientes.registrar_opt_out(conn, cliente_id):
        return False
    await clientes.cancelar_envios_pendentes(conn, cliente_id)
    await fila_mensagens.registrar_resposta(
        conn, conversa_id, cliente_id, confirmation(with_team=with_team), PRIORITY_CONFIRMATION, None
    )
    return True


async def register_opt_out_tool(
    conn: Executor, cliente_id: int, conversa_id: int, entrada: Mapping[str, object], *, with_team: bool
) -> str:
    """Claude's `registrar_opt_out` tool (input `{}`), in its own transaction. The fixed confirmation is
    queued here, like every opt-out's; whatever Claude writes after it is not sent (the doctor is opt_out
    by then: concluir_entrada queues nothing), and the tool result tells it so."""
    del entrada  # the tool takes no arguments: who opts out is the doctor of this conversation
    await registrar_opt_out(conn, cliente_id, conversa_id, with_team=with_team)
    return TOOL_RESULT
