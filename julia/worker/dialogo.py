"""One answer with tools: call Claude, run the tools it asks for, send their results back, until it
writes text. Bounded: at most MAX_RODADAS rounds of tools per message; the call after the last round
still carries the tools (the history holds tool_use blocks) but with tool_choice none, so Claude must
answer in words. The Messages API is stateless, so every round sends the whole exchange so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

from anthropic.types import MessageParam

from julia.integrations import IntegracaoError
from julia.integrations.claude import Turno
from julia.worker import ferramentas, promessas
from julia.worker.ferramentas import Contexto

MAX_RODADAS: Final = 3


async def conversar(ctx: Contexto, estatico: str, dinamico: str, turnos: Sequence[Turno]) -> str:
    """Júlia's reply text. IntegracaoError when Claude fails (the caller retries the whole answer; the
    tools it already ran are idempotent: a shift already held by this doctor is not booked again)."""
    mensagens: list[Turno | MessageParam] = list(turnos)
    tools = ferramentas.definicoes()
    for rodada in range(MAX_RODADAS + 1):
        resposta = await ctx.s.claude.responder(
            estatico, dinamico, mensagens, ferramentas=tools, usar_ferramentas=rodada < MAX_RODADAS
        )
        ctx.tokens += resposta.tokens
        if not resposta.chamadas or rodada == MAX_RODADAS:
            if not resposta.texto:
                raise IntegracaoError("claude", f"no text after {rodada} tool rounds", transitorio=True)
            # What the doctor reads about a reservation is what the tool did, not what Claude wrote.
            return promessas.conferir(resposta.texto, ctx.reservas_do_turno)
        # Sequentially, in Claude's order: "reserve 12, else search" must not run both at once.
        resultados = [await ferramentas.executar(ctx, chamada) for chamada in resposta.chamadas]
        # The assistant turn goes back exactly as it came (its blocks as plain dicts of the wire format).
        mensagens.append(cast("MessageParam", {"role": "assistant", "content": list(resposta.conteudo)}))
        mensagens.append({"role": "user", "content": resultados})
    raise AssertionError("unreachable: the last round returns or raises")
