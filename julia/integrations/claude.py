"""Claude through `anthropic.AsyncAnthropic`: the SDK retries 408/409/429/5xx/529 and timeouts itself
(settings.anthropic_max_retries, with its backoff); what still fails after them becomes IntegracaoError.

One call is one request: tools are offered here, but running them and looping until Claude answers with
text is the caller's (julia/worker/dialogo.py), which owns the bounds and the audit."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

import anthropic
from anthropic.types import MessageParam, TextBlockParam, ToolChoiceParam, ToolParam

from julia.integrations import IntegracaoError
from julia.metrics import metrics
from julia.settings import Settings

MAX_TOKENS = 512
SEM_RESPOSTA = 0  # the status an observer gets for a timeout or a connection error
# The longest `retry-after` julia lets the SDK honour per retry. The SDK itself waits whatever the header
# says (anthropic 2.x caps it only at ~50 days), so an attempt is bounded by pior_caso_s instead.
RETRY_AFTER_MAX_S = 60.0


# Statuses no retry can fix: the request itself is wrong for the API (the prompt too long, a bad field).
# Every other status (429, 5xx, 529, 401/403 while an operator fixes the key) stays transient.
DEFINITIVOS = frozenset({400, 413, 422})
# A full sentence ends with one of these (a closing quote or bracket may follow).
_FIM_DE_FRASE = re.compile(r"^.*[.!?…][\"')\]]*(?=\s|$)", re.DOTALL)


class Turno(TypedDict):
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChamadaFerramenta:
    """One `tool_use` block: Claude asks julia to run `nome` with `entrada`; `id` pairs it with its result."""

    id: str
    nome: str
    entrada: dict[str, Any]


@dataclass(frozen=True)
class Resposta:
    texto: str  # may be empty when Claude only calls tools
    chamadas: tuple[ChamadaFerramenta, ...] = ()
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
        self._modelo = settings.julia_model
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            max_retries=settings.anthropic_max_retries,
            timeout=settings.anthropic_timeout_s,
            http_client=http_client or anthropic.DefaultAioHttpClient(),
        )
        # Told every call's duration and HTTP status (200, 429, 529..., SEM_RESPOSTA): the worker's
        # adaptive concurrency (julia/worker/concorrencia.py) listens here.
        self.observador: Callable[[float, int], None] | None = None

    async def close(self) -> None:
        await self._client.close()

    @metrics.timed("gerar_resposta")
    async def responder(
        self,
        estatico: str,
        dinamico: str,
        turnos: Sequence[Turno | MessageParam],
        *,
        ferramentas: Sequence[ToolParam] = (),
        usar_ferramentas: bool = True,
    ) -> Resposta:
        """One reply. `estatico` (the versioned prompt) is marked for prompt caching; `dinamico` (this
        doctor's context and shifts) follows it uncached, so the cached prefix is shared by every doctor.

        `ferramentas` are offered with `tool_choice` auto, parallel tool use off; `usar_ferramentas=False`
        still sends them (a history holding tool_use blocks must) but with `tool_choice` none, so Claude has
        to write text."""
        sistema: list[TextBlockParam] = [
            {"type": "text", "text": estatico, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": dinamico},
        ]
        # Turno already has MessageParam's shape; the cast spares a per-version TypedDict dance.
        mensagens = cast("list[MessageParam]", [dict(t) for t in turnos])
        extras: dict[str, Any] = {}
        if ferramentas:
            # One tool_use per reply: a single message must not book a batch of shifts in one go (the loop
            # runs every block it gets), and each tool's result is seen before the next is asked for.
            escolha: ToolChoiceParam = (
                {"type": "auto", "disable_parallel_tool_use": True} if usar_ferramentas else {"type": "none"}
            )
            extras = {"tools": list(ferramentas), "tool_choice": escolha}
        inicio = time.monotonic()
        try:
            msg = await self._client.messages.create(
                model=self._modelo, max_tokens=MAX_TOKENS, system=sistema, messages=mensagens, **extras
            )
        except anthropic.APIStatusError as exc:
            self._observar(inicio, exc.status_code)
            raise IntegracaoError(
                "claude",
                f"HTTP {exc.status_code}: {exc.message}",
                transitorio=exc.status_code not in DEFINITIVOS,
                status=exc.status_code,
            ) from exc
        except anthropic.APITimeoutError as exc:
            self._observar(inicio, SEM_RESPOSTA)
            raise IntegracaoError("claude", "timeout", transitorio=True) from exc
        except anthropic.APIConnectionError as exc:
            self._observar(inicio, SEM_RESPOSTA)
            raise IntegracaoError("claude", f"connection error: {exc}", transitorio=True) from exc
        self._observar(inicio, 200)
        texto = "".join(b.text for b in msg.content if b.type == "text").strip()
        tokens = msg.usage.input_tokens + msg.usage.output_tokens if msg.usage is not None else 0
        if msg.stop_reason == "refusal":  # the same prompt gets the same refusal: never retried
            raise IntegracaoError("claude", "refusal (stop_reason refusal)", transitorio=False)
        if msg.stop_reason == "max_tokens":
            return _cortada(texto, tokens)
        chamadas = tuple(
            ChamadaFerramenta(b.id, b.name, dict(b.input) if isinstance(b.input, dict) else {})
            for b in msg.content
            if b.type == "tool_use"
        )
        if not texto and not chamadas:
            raise IntegracaoError(
                "claude", f"no text in the reply (stop_reason {msg.stop_reason})", transitorio=True
            )
        return Resposta(
            texto,
            chamadas,
            tuple(b.model_dump(mode="json", exclude_none=True) for b in msg.content),
            tokens,
        )

    def _observar(self, inicio: float, status: int) -> None:
        if self.observador is not None:
            self.observador(time.monotonic() - inicio, status)


def _cortada(texto: str, tokens: int) -> Resposta:
    """A reply cut at MAX_TOKENS: never sent mid-sentence. The text is kept up to its last full sentence
    and a tool_use cut mid-input is not run; with no full sentence there is nothing to send, and asking
    again would cut it again."""
    if (inteira := _FIM_DE_FRASE.match(texto)) is None:
        raise IntegracaoError("claude", "reply cut at max_tokens before a full sentence", transitorio=False)
    frases = inteira.group(0)
    return Resposta(frases, (), ({"type": "text", "text": frases},), tokens)


def pior_caso_s(settings: Settings) -> float:
    """The longest one `responder` can legitimately take: every try up to its timeout, and a minute's
    `retry-after` between tries. The worker's deadline for an attempt; anything longer is a hang."""
    tentativas = settings.anthropic_max_retries + 1
    return tentativas * settings.anthropic_timeout_s + settings.anthropic_max_retries * RETRY_AFTER_MAX_S
