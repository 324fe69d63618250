"""Claude through `anthropic.AsyncAnthropic`: the SDK retries 408/409/429/5xx/529 and timeouts itself
(settings.anthropic_max_retries, with its backoff); what still fails after them becomes IntegracaoError.

One call is one request: tools are offered here, but running them and looping until Claude answers with
text is the caller's (julia/worker/dialogue.py), which owns the bounds and the audit."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

import anthropic
from anthropic.types import MessageParam, TextBlockParam, ToolChoiceParam, ToolParam

from julia.integrations import IntegrationError
from julia.metrics import metrics
from julia.settings import Settings

MAX_TOKENS = 512
WITHOUT_REPLY = 0  # the status an observer gets for a timeout or a connection error
# The longest `retry-after` julia lets the SDK honour per retry. The SDK itself waits whatever the header
# says (anthropic 2.x caps it only at ~50 days), so an attempt is bounded by pior_caso_s instead.
RETRY_AFTER_MAX_S = 60.0


# Statuses no retry can fix: the request itself is wrong for the API (the prompt too long, a bad field).
# Every other status (429, 5xx, 529, 401/403 while an operator fixes the key) stays transient.
PERMANENT = frozenset({400, 413, 422})
# A full sentence ends with one of these (a closing quote or bracket may follow).
_SENTENCE_END = re.compile(r"^.*[.!?…][\"')\]]*(?=\s|$)", re.DOTALL)


class Turn(TypedDict):
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ToolCall:
    """One `tool_use` block: Claude asks julia to run `nome` with `entrada`; `id` pairs it with its result."""

    id: str
    nome: str
    entrada: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    texto: str  # may be empty when Claude only calls tools
    calls: tuple[ToolCall, ...] = ()
    # The assistant turn exactly as it came (text and tool_use blocks), to send back unchanged next round.
    conteudo: tuple[dict[str, Any], ...] = ()
    tokens: int = 0  # input + output tokens of the call (`usage`): the daily budgets' unit


class Claude:
    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        """`http_client`: tests hand an `anthropic.DefaultAsyncHttpxClient` with a fake transport (the
        SDK's HTTP library is httpx2 in anthropic 2.x, which respx does not patch). Otherwise the SDK's
        aiohttp transport: about half the CPU per call of its default (julia/integrations/http.py)."""
        settings.require("anthropic_api_key")
        assert settings.anthropic_api_key is not None
        self._template = settings.julia_model
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            max_retries=settings.anthropic_max_retries,
            timeout=settings.anthropic_timeout_s,
            http_client=http_client or anthropic.DefaultAioHttpClient(),
        )
        # Told every call's duration and HTTP status (200, 429, 529..., SEM_RESPOSTA): the worker's
        # adaptive concurrency (julia/worker/concurrency.py) listens here.
        self.watcher: Callable[[float, int], None] | None = None

    async def close(self) -> None:
        await self._client.close()

    @metrics.timed("gerar_resposta")
    async def reply(
        self,
        static: str,
        dynamic: str,
        turns: Sequence[Turn | MessageParam],
        *,
        tools: Sequence[ToolParam] = (),
        use_tools: bool = True,
    ) -> Reply:
        """One reply. `estatico` (the versioned prompt) is marked for prompt caching; `dinamico` (this
        doctor's context and shifts) follows it uncached, so the cached prefix is shared by every doctor.

        `tools` are offered with `tool_choice` auto, parallel tool use off; `usar_ferramentas=False`
        still sends them (a history holding tool_use blocks must) but with `tool_choice` none, so Claude has
        to write text."""
        system: list[TextBlockParam] = [
            {"type": "text", "text": static, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": dynamic},
        ]
        # Turno already has MessageParam's shape; the cast spares a per-version TypedDict dance.
        messages = cast("list[MessageParam]", [dict(t) for t in turns])
        extras: dict[str, Any] = {}
        if tools:
            # One tool_use per reply: a single message must not book a batch of shifts in one go (the loop
            # runs every block it gets), and each tool's result is seen before the next is asked for.
            choice: ToolChoiceParam = (
                {"type": "auto", "disable_parallel_tool_use": True} if use_tools else {"type": "none"}
            )
            extras = {"tools": list(tools), "tool_choice": choice}
        inicio = time.monotonic()
        try:
            msg = await self._client.messages.create(
                model=self._template, max_tokens=MAX_TOKENS, system=system, messages=messages, **extras
            )
        except anthropic.APIStatusError as exc:
            self._watch(inicio, exc.status_code)
            raise IntegrationError(
                "claude",
                f"HTTP {exc.status_code}: {exc.message}",
                transient_one=exc.status_code not in PERMANENT,
                status=exc.status_code,
            ) from exc
        except anthropic.APITimeoutError as exc:
            self._watch(inicio, WITHOUT_REPLY)
            raise IntegrationError("claude", "timeout", transient_one=True) from exc
        except anthropic.APIConnectionError as exc:
            self._watch(inicio, WITHOUT_REPLY)
            raise IntegrationError("claude", f"connection error: {exc}", transient_one=True) from exc
        self._watch(inicio, 200)
        texto = "".join(b.text for b in msg.content if b.type == "text").strip()
        tokens = msg.usage.input_tokens + msg.usage.output_tokens if msg.usage is not None else 0
        if msg.stop_reason == "refusal":  # the same prompt gets the same refusal: never retried
            raise IntegrationError("claude", "refusal (stop_reason refusal)", transient_one=False)
        if msg.stop_reason == "max_tokens":
            return _cut(texto, tokens)
        calls = tuple(
            ToolCall(b.id, b.name, dict(b.input) if isinstance(b.input, dict) else {})
            for b in msg.content
            if b.type == "tool_use"
        )
        if not texto and not calls:
            raise IntegrationError(
                "claude", f"no text in the reply (stop_reason {msg.stop_reason})", transient_one=True
            )
        return Reply(
            texto,
            calls,
            tuple(b.model_dump(mode="json", exclude_none=True) for b in msg.content),
            tokens,
        )

    def _watch(self, inicio: float, status: int) -> None:
        if self.watcher is not None:
            self.watcher(time.monotonic() - inicio, status)


def _cut(texto: str, tokens: int) -> Reply:
    """A reply cut at MAX_TOKENS: never sent mid-sentence. The text is kept up to its last full sentence
    and a tool_use cut mid-input is not run; with no full sentence there is nothing to send, and asking
    again would cut it again."""
    if (whole := _SENTENCE_END.match(texto)) is None:
        raise IntegrationError(
            "claude", "reply cut at max_tokens before a full sentence", transient_one=False
        )
    sentences = whole.group(0)
    return Reply(sentences, (), ({"type": "text", "text": sentences},), tokens)


def worst_case_s(settings: Settings) -> float:
    """The longest one `responder` can legitimately take: every try up to its timeout, and a minute's
    `retry-after` between tries. The worker's deadline for an attempt; anything longer is a hang."""
    tentativas = settings.anthropic_max_retries + 1
    return tentativas * settings.anthropic_timeout_s + settings.anthropic_max_retries * RETRY_AFTER_MAX_S
