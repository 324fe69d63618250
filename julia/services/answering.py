"""What answering one inbound message reads and marks besides its queue row (julia/services/queues.py):
the conversation's recent history, the once-per-window fixed replies, and the audit of every tool Claude
ran. The worker's answer (julia/worker/reply.py, ferramentas.py) goes through here, never to the
tables themselves."""

from __future__ import annotations

from typing import Any, Literal

from julia.data import Executor, chamadas_ferramenta, conversations, interacoes
from julia.data.interacoes import Interacao as Interacao  # the worker's type for a history row

# The fixed replies a conversation gets at most once per window: the ask for text (media Júlia cannot
# read) and the apology for a late backlog.
Once = Literal["pedir_texto", "desculpa_atraso"]


async def history(db: Executor, conversa_id: int) -> list[Interacao]:
    """The conversation's last interactions, newest first (as many as a reply reads)."""
    return await interacoes.carregar_historico(db, conversa_id)


async def first_in_window(db: Executor, which: Once, conversa_id: int, window_s: float) -> bool:
    """Whether the conversation may get `which` now (not in the last `window_s` seconds); marks it."""
    if which == "pedir_texto":
        return await conversations.marcar_pedido_texto(db, conversa_id, window_s)
    return await conversations.marcar_desculpa_atraso(db, conversa_id, window_s)


async def audit_tool_call(
    db: Executor,
    *,
    conversa_id: int,
    interacao_id: int,
    tool: str,
    arguments: dict[str, Any],
    result: dict[str, Any],
    error: bool,
) -> None:
    """One tool Claude ran while answering interaction `interacao_id`, with what it was given and gave."""
    await chamadas_ferramenta.registrar_chamada_ferramenta(
        db,
        conversa_id=conversa_id,
        interacao_id=interacao_id,
        ferramenta=tool,
        entrada=arguments,
        resultado=result,
        erro=error,
    )
