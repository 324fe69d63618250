"""The tools Júlia may use while answering (Claude's tool use), as a registry: name -> input model +
handler. Adding a tool is one `Tool(...)` in FERRAMENTAS; the loop (dialogo.py) offers every
registered tool and runs what Claude asks for through `execute`, which never raises: a tool that fails
returns an `is_error` tool_result so Claude can tell the doctor, and every call is audited.

Inputs are pydantic models: their JSON schema is what Claude is shown, and the same model validates what
Claude sends back (a wrong input is an error result, not an exception in julia).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from anthropic.types import ToolParam, ToolResultBlockParam
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from julia.cache import invalidate_medico, open_vagas
from julia.integrations.claude import ToolCall
from julia.services import answering, handoff, opt_out, preferences, reservas
from julia.services.plantoes import describe
from julia.services.queues import InboundRow
from julia.worker.context import WorkerContext

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)
Result = dict[str, Any]  # JSON sent back to Claude (and stored in the audit)

SEARCH_RETURNED: Final = 10


class ToolFailure(Exception):
    """The tool could not do what Claude asked; `detalhes` go back with the message as an is_error result."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class ToolContext:
    """What a tool may touch: the services, the message being answered, its doctor."""

    s: WorkerContext
    task: InboundRow  # the claimed row (reivindicar_entradas)
    medico: dict[str, Any]  # the static context (contexto_estatico)
    mirroring: asyncio.Task[int | None] | None = (
        None  # the inbound mirror, which may create the Chatwoot chat
    )
    went_to_human: bool = False  # set by pedir_humano: Júlia's reply still goes out
    # What reservar_vaga really did in this turn: the reply's confirmation is built from these, and a
    # reply claiming a reservation none of them made is corrected (julia/worker/promises.py).
    reservas_of_turn: list[reservas.Reserva] = field(default_factory=list)
    tokens: int = 0  # Claude's tokens this answer used so far, for the daily budgets (services/orcamento.py)

    async def chatwoot_conversa_id(self) -> int | None:
        mirrored = await self.mirroring if self.mirroring is not None else None
        return mirrored or self.task.chatwoot_conversation_id


@dataclass(frozen=True)
class Tool(Generic[E]):
    nome: str
    description: str
    entrada: type[E]
    execute: Callable[[ToolContext, E], Awaitable[Result]]

    def definicao(self) -> ToolParam:
        return {
            "name": self.nome,
            "description": self.description,
            "input_schema": self.entrada.model_json_schema(),
        }


# --- reservar_vaga ------------------------------------------------------------------------------------


class ReserveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vaga_id: int = Field(description="O número da vaga, como aparece no contexto (vaga 123).")


def _alternatives(vagas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"vaga_id": v["id"], "descricao": describe(v)} for v in vagas]


# Claude's mistakes (an id it made up or misread), returned as is_error; every other refusal is a normal
# outcome Claude explains to the doctor with its true reason.
CLAUDE_ERRORS: Final = frozenset(
    {reservas.NONEXISTENT, reservas.OTHER_ESPECIALIDADE, reservas.WITHOUT_ESPECIALIDADE}
)
ONE_PER_MESSAGE: Final = (
    "só uma reserva por mensagem: o médico não pediu a vaga {vaga_id} pelo número. Pergunte se ele também "
    "quer essa vaga antes de reservar."
)
CONFIRMATION_BY_JULIA: Final = (
    "julia envia ao médico a confirmação com data, dia da semana, hospital, período e valor tirados desta "
    "reserva: não repita esses dados, só complemente se precisar."
)


def _asked_by_number(texto: str, vaga_id: int) -> bool:
    return re.search(rf"(?<!\d){vaga_id}(?!\d)", texto) is not None


async def reservar_vaga(ctx: ToolContext, entrada: ReserveInput) -> Result:
    s = ctx.s
    # Parallel tool use is off (julia/integrations/claude.py), yet Claude may still ask again in the next
    # round: at most one new reservation per message unless the doctor named this shift by its number.
    if any(r.nova for r in ctx.reservas_of_turn) and not _asked_by_number(ctx.task.conteudo, entrada.vaga_id):
        raise ToolFailure(ONE_PER_MESSAGE.format(vaga_id=entrada.vaga_id))
    r = await reservas.reserve(
        s.pool,
        s.cache,
        ctx.task.cliente_id,
        entrada.vaga_id,
        abertas_max=s.settings.reservas_abertas_max,
    )
    ctx.reservas_of_turn.append(r)
    if r.reservada:
        assert r.vaga is not None
        if r.nova:
            await reservas.notify_team(
                s.slack,
                s.chatwoot,
                vaga_id=entrada.vaga_id,
                vaga=r.vaga,
                medico=_nome(ctx),
                chatwoot_conversa_id=await ctx.chatwoot_conversa_id(),
            )
        return {
            "reservada": True,
            "vaga_id": entrada.vaga_id,
            "descricao": describe(r.vaga),
            "instrucao": CONFIRMATION_BY_JULIA,
        }
    alternatives = _alternatives(r.alternatives)
    explanation = str(r.explanation())
    if r.motivo in CLAUDE_ERRORS:
        message = (
            explanation
            if r.motivo == reservas.WITHOUT_ESPECIALIDADE
            else f"a vaga {entrada.vaga_id} {explanation}"
        )
        raise ToolFailure(message, alternatives=alternatives)
    motivo = explanation if r.motivo in reservas.DO_MEDICO else f"a vaga {explanation}"
    return {"reservada": False, "motivo": motivo, "alternativas": alternatives}


def _nome(ctx: ToolContext) -> str:
    nome = " ".join(p for p in (ctx.medico.get("primeiro_nome"), ctx.medico.get("sobrenome")) if p)
    return f"{nome} ({ctx.task.telefone})" if nome else str(ctx.task.telefone)


# --- buscar_vagas -------------------------------------------------------------------------------------


class SearchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_inicio: dt.date | None = Field(
        default=None, description="Primeiro dia (AAAA-MM-DD); hoje se omitido."
    )
    data_fim: dt.date | None = Field(default=None, description="Último dia (AAAA-MM-DD), inclusive.")
    cidade: str | None = Field(default=None, description="Cidade do hospital, sem o estado.")
    estado: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="UF do hospital (SP, RJ...). Sem cidade nem estado, busca no estado do CRM do médico.",
    )


async def buscar_vagas(ctx: ToolContext, entrada: SearchInput) -> Result:
    especialidade = ctx.medico.get("especialidade_id")
    if especialidade is None:
        raise ToolFailure(reservas.WITHOUT_ESPECIALIDADE)
    if entrada.data_inicio and entrada.data_fim and entrada.data_fim < entrada.data_inicio:
        raise ToolFailure("data_fim é anterior a data_inicio")
    # A city names its state; without one, the doctor's own state (their CRM's), as in the context.
    estado = entrada.estado or (None if entrada.cidade else preferences.uf_do_crm(ctx.medico.get("crm")))
    # State and city are filtered in SQL, through the cache (the same generation per specialty). The
    # list is soonest first, so the shifts up to data_fim are a prefix of it: filtering them here is exact.
    abertas = await open_vagas(
        ctx.s.pool,
        ctx.s.cache,
        especialidade,
        SEARCH_RETURNED,
        desde=entrada.data_inicio,
        estado=estado,
        cidade=entrada.cidade,
    )
    found_ones = [
        v
        for v in abertas
        if entrada.data_fim is None or dt.date.fromisoformat(str(v["data_plantao"])) <= entrada.data_fim
    ]
    return {"vagas": _alternatives(preferences.sort(found_ones, ctx.medico.get("preferencias") or {}))}


# --- pedir_humano -------------------------------------------------------------------------------------


class AskHumanInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    motivo: str = Field(min_length=1, description="Por que uma pessoa da equipe deve assumir, em uma frase.")


async def pedir_humano(ctx: ToolContext, entrada: AskHumanInput) -> Result:
    s, task = ctx.s, ctx.task
    # One statement (the conversation's control and the handoffs row together), committed on the pool.
    new_handoff = await handoff.hand_over(
        s.pool, task.conversa_id, entrada.motivo.strip(), telefone=task.telefone
    )
    ctx.went_to_human = True
    if new_handoff is not None:  # a person did not already have it: notify once
        await new_handoff.notify(
            s.slack, s.chatwoot, chatwoot_conversa_id=await ctx.chatwoot_conversa_id(), label=True
        )
    return {"transferida": True, "instrucao": "Avise o médico que uma pessoa da equipe vai continuar."}


# --- registrar_opt_out ---------------------------------------------------------------------------------


class OptOutInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def registrar_opt_out(ctx: ToolContext, entrada: OptOutInput) -> Result:
    """The doctor asked to stop in other words than the keywords (julia.services.opt_out catches those
    at the webhook): opt_out at once, unsent messages cancelled and the fixed confirmation queued, in one
    transaction."""
    cliente_id, conversa_id = ctx.task.cliente_id, ctx.task.conversa_id
    async with ctx.s.pool.acquire() as conn, conn.transaction():
        instruction = await opt_out.register_opt_out_tool(
            conn, cliente_id, conversa_id, {}, with_team=ctx.s.chatwoot is not None
        )
    await invalidate_medico(ctx.s.cache, cliente_id, ctx.task.telefone)
    return {"opt_out": True, "instrucao": instruction}


# --- the registry -------------------------------------------------------------------------------------

TOOLS: Final[tuple[Tool[Any], ...]] = (
    Tool(
        "reservar_vaga",
        "Reserva a vaga aberta para este médico, quando ele aceitar uma vaga específica. Se outra pessoa "
        "reservou antes, o resultado traz até três alternativas para oferecer.",
        ReserveInput,
        reservar_vaga,
    ),
    Tool(
        "buscar_vagas",
        "Busca vagas abertas da especialidade do médico, quando as do contexto não bastam (outra data, "
        "outra cidade).",
        SearchInput,
        buscar_vagas,
    ),
    Tool(
        "pedir_humano",
        "Passa a conversa para uma pessoa da equipe: o médico pediu, reclamou, ou o assunto foge de "
        "plantões.",
        AskHumanInput,
        pedir_humano,
    ),
    Tool(
        "registrar_opt_out",
        "Registra que o médico não quer mais receber mensagens (pediu para parar, sair, não ser mais "
        "contatado, com qualquer palavra). Depois, confirme em uma frase e não ofereça mais nada.",
        OptOutInput,
        registrar_opt_out,
    ),
)
RECORD: Final[dict[str, Tool[Any]]] = {f.nome: f for f in TOOLS}


@functools.cache
def definitions() -> tuple[ToolParam, ...]:
    """The `tools` of every request; the last one carries cache_control, caching tools with the prompt.
    Built once: pydantic's model_json_schema was 3% of the worker's CPU when built per call."""
    tools = [f.definicao() for f in TOOLS]
    tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}
    return tuple(tools)


async def execute(ctx: ToolContext, call: ToolCall) -> ToolResultBlockParam:
    """Run one tool_use and answer its tool_result; never raises for the tool's sake (a Postgres failure
    writing the audit does raise: an unaudited action must not pass silently, and the retry redoes it)."""
    resultado, erro = await _run(ctx, call)
    await answering.audit_tool_call(
        ctx.s.pool,
        conversa_id=ctx.task.conversa_id,
        interacao_id=ctx.task.interacao_id,
        tool=call.nome,
        arguments=call.entrada,
        result=resultado,
        error=erro,
    )
    return {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": json.dumps(resultado, ensure_ascii=False),
        "is_error": erro,
    }


async def _run(ctx: ToolContext, call: ToolCall) -> tuple[Result, bool]:
    ferramenta = RECORD.get(call.nome)
    if ferramenta is None:
        return {"erro": f"ferramenta desconhecida: {call.nome}"}, True
    try:
        entrada = ferramenta.entrada.model_validate(call.entrada)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc'])) or 'entrada'}: {e['msg']}" for e in exc.errors()]
        return {"erro": "entrada inválida", "detalhes": errors}, True
    try:
        return await ferramenta.execute(ctx, entrada), False
    except ToolFailure as exc:
        return {"erro": str(exc), **exc.details}, True
    except Exception as exc:  # a tool must never take the answer down with it
        log.exception("tool %s failed for entrada %s", call.nome, ctx.task.id)
        return {"erro": f"falha ao executar {call.nome}: {type(exc).__name__}"}, True
