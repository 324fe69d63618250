"""One answer with tools: call Claude, run the tools it asks for, send their results back, until it
writes text. Bounded: at most MAX_RODADAS rounds of tools per message; the call after the last round
still carries the tools (the history holds tool_use blocks) but with tool_choice none, so Claude must
answer in words. The Messages API is stateless, so every round sends the whole exchange so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

from anthropic.types import MessageParam

from julia.integrations import IntegrationError
from julia.integrations.claude import Turn
from julia.worker import promises, tools
from julia.worker.tools import ToolContext

MAX_ROUNDS: Final = 3


async def converse(ctx: ToolContext, static: str, dynamic: str, turns: Sequence[Turn]) -> str:
    """Júlia's reply text. IntegracaoError when Claude fails (the caller retries the whole answer; the
    tools it already ran are idempotent: a shift already held by this doctor is not booked again)."""
    messages: list[Turn | MessageParam] = list(turns)
    tool_params = tools.definitions()
    for this_round in range(MAX_ROUNDS + 1):
        resposta = await ctx.s.claude.reply(
            static, dynamic, messages, tools=tool_params, use_tools=this_round < MAX_ROUNDS
        )
        ctx.tokens += resposta.tokens
        if not resposta.calls or this_round == MAX_ROUNDS:
            if not resposta.texto:
                raise IntegrationError(
                    "claude", f"no text after {this_round} tool rounds", transient_one=True
                )
            # What the doctor reads about a reservation is what the tool did, not what Claude wrote.
            return promises.check(resposta.texto, ctx.reservas_of_turn)
        # Sequentially, in Claude's order: "reserve 12, else search" must not run both at once.
        results = [await tools.execute(ctx, call) for call in resposta.calls]
        # The assistant turn goes back exactly as it came (its blocks as plain dicts of the wire format).
        messages.append(cast("MessageParam", {"role": "assistant", "content": list(resposta.conteudo)}))
        messages.append({"role": "user", "content": results})
    raise AssertionError("unreachable: the last round returns or raises")
