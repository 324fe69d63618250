"""Opt-out: a doctor who asks Júlia to stop is opt_out at once (issue 15, LGPD).

In ONE transaction (the caller's): the doctor becomes `opt_out`, every campaign message of theirs still
waiting is cancelled, and one confirmation is queued. After that no campaign queues them
(criar_campanha) nor sends to them (iniciar_envio, read right before the send), and a message they
write reaches a person through Chatwoot, never Claude (julia/worker/resposta.py, SEM_RESPOSTA).

Two ways in: `pede_opt_out`, deterministic keywords the worker checks before calling Claude, and
`ferramenta_registrar_opt_out`, the handler of Claude's `registrar_opt_out {}` tool for the other ways of
saying it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from julia.data import Executor, clientes, fila_mensagens

CONFIRMACAO = (
    "Pronto, você não vai mais receber mensagens de oferta de plantão da Júlia. Se precisar de algo, "
    "é só escrever aqui: uma pessoa da nossa equipe responde."
)
# Above a reply (8): the doctor asked us to stop, and the confirmation is the one thing still owed.
PRIORIDADE_CONFIRMACAO = 9
# The whole message, once accents, case and punctuation are gone. Whole-message on purpose: "não quero
# sair do plantão" or "pode parar de reservar?" must not opt anyone out; Claude's tool catches the rest.
PEDIDOS = frozenset(
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
_NAO_LETRA = re.compile(r"[^a-z0-9]+")
RESULTADO_FERRAMENTA = (
    "opt_out registrado: o médico não receberá mais campanhas e as mensagens pendentes foram canceladas. "
    "Confirme em uma frase, sem oferecer plantões."
)


def pede_opt_out(texto: str) -> bool:
    """Is the whole message one of the stop words (PARAR, SAIR, "não quero mais receber"...)?"""
    simples = unicodedata.normalize("NFKD", texto.lower()).encode("ascii", "ignore").decode()
    return _NAO_LETRA.sub(" ", simples).strip() in PEDIDOS


async def registrar_opt_out(conn: Executor, cliente_id: int, conversa_id: int, *, confirmar: bool) -> bool:
    """opt_out, pending campaign rows cancelled and (with `confirmar`) the confirmation queued, inside the
    caller's transaction. False when the doctor already was opt_out: nothing is queued twice. The caller
    invalidates the cached doctor after commit (julia.cache.invalidar_medico)."""
    linha = await clientes.registrar_opt_out(conn, cliente_id)
    if linha["mudou"] and confirmar:
        await fila_mensagens.registrar_resposta(
            conn, conversa_id, cliente_id, CONFIRMACAO, PRIORIDADE_CONFIRMACAO, None
        )
    return bool(linha["mudou"])


async def ferramenta_registrar_opt_out(
    conn: Executor, cliente_id: int, conversa_id: int, entrada: Mapping[str, object]
) -> str:
    """Claude's `registrar_opt_out` tool (input `{}`), run inside the reply's transaction. Claude's own
    reply is the confirmation, so none is queued here; the tool result tells it what to say."""
    del entrada  # the tool takes no arguments: who opts out is the doctor of this conversation
    await registrar_opt_out(conn, cliente_id, conversa_id, confirmar=False)
    return RESULTADO_FERRAMENTA
