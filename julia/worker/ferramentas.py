"""The tools Júlia may use while answering (Claude's tool use), as a registry: name -> input model +
handler. Adding a tool is one `Ferramenta(...)` in FERRAMENTAS; the loop (dialogo.py) offers every
registered tool and runs what Claude asks for through `executar`, which never raises: a tool that fails
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

from julia.cache import invalidar_medico, vagas_abertas
from julia.integrations.claude import ChamadaFerramenta
from julia.services import answering, handoff, opt_out, preferencias, reservas
from julia.services.plantoes import descrever
from julia.services.queues import InboundRow
from julia.worker.context import WorkerContext

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)
Resultado = dict[str, Any]  # JSON sent back to Claude (and stored in the audit)

BUSCA_DEVOLVIDAS: Final = 10


class FalhaFerramenta(Exception):
    """The tool could not do what Claude asked; `detalhes` go back with the message as an is_error result."""

    def __init__(self, mensagem: str, **detalhes: Any) -> None:
        super().__init__(mensagem)
        self.detalhes = detalhes


@dataclass
class Contexto:
    """What a tool may touch: the services, the message being answered, its doctor."""

    s: WorkerContext
    tarefa: InboundRow  # the claimed row (reivindicar_entradas)
    medico: dict[str, Any]  # the static context (contexto_estatico)
    espelho: asyncio.Task[int | None] | None = None  # the inbound mirror, which may create the Chatwoot chat
    passou_para_humano: bool = False  # set by pedir_humano: Júlia's reply still goes out
    # What reservar_vaga really did in this turn: the reply's confirmation is built from these, and a
    # reply claiming a reservation none of them made is corrected (julia/worker/promessas.py).
    reservas_do_turno: list[reservas.Reserva] = field(default_factory=list)
    tokens: int = 0  # Claude's tokens this answer used so far, for the daily budgets (services/orcamento.py)

    async def chatwoot_conversa_id(self) -> int | None:
        espelhada = await self.espelho if self.espelho is not None else None
        return espelhada or self.tarefa.chatwoot_conversation_id


@dataclass(frozen=True)
class Ferramenta(Generic[E]):
    nome: str
    descricao: str
    entrada: type[E]
    executar: Callable[[Contexto, E], Awaitable[Resultado]]

    def definicao(self) -> ToolParam:
        return {
            "name": self.nome,
            "description": self.descricao,
            "input_schema": self.entrada.model_json_schema(),
        }


# --- reservar_vaga ------------------------------------------------------------------------------------


class EntradaReservar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vaga_id: int = Field(description="O número da vaga, como aparece no contexto (vaga 123).")


def _alternativas(vagas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"vaga_id": v["id"], "descricao": descrever(v)} for v in vagas]


# Claude's mistakes (an id it made up or misread), returned as is_error; every other refusal is a normal
# outcome Claude explains to the doctor with its true reason.
ERROS_DE_CLAUDE: Final = frozenset(
    {reservas.INEXISTENTE, reservas.OUTRA_ESPECIALIDADE, reservas.SEM_ESPECIALIDADE}
)
UMA_POR_MENSAGEM: Final = (
    "só uma reserva por mensagem: o médico não pediu a vaga {vaga_id} pelo número. Pergunte se ele também "
    "quer essa vaga antes de reservar."
)
CONFIRMACAO_PELA_JULIA: Final = (
    "julia envia ao médico a confirmação com data, dia da semana, hospital, período e valor tirados desta "
    "reserva: não repita esses dados, só complemente se precisar."
)


def _pediu_pelo_numero(texto: str, vaga_id: int) -> bool:
    return re.search(rf"(?<!\d){vaga_id}(?!\d)", texto) is not None


async def reservar_vaga(ctx: Contexto, entrada: EntradaReservar) -> Resultado:
    s = ctx.s
    # Parallel tool use is off (julia/integrations/claude.py), yet Claude may still ask again in the next
    # round: at most one new reservation per message unless the doctor named this shift by its number.
    if any(r.nova for r in ctx.reservas_do_turno) and not _pediu_pelo_numero(
        ctx.tarefa.conteudo, entrada.vaga_id
    ):
        raise FalhaFerramenta(UMA_POR_MENSAGEM.format(vaga_id=entrada.vaga_id))
    r = await reservas.reservar(
        s.pool,
        s.cache,
        ctx.tarefa.cliente_id,
        entrada.vaga_id,
        abertas_max=s.settings.reservas_abertas_max,
    )
    ctx.reservas_do_turno.append(r)
    if r.reservada:
        assert r.vaga is not None
        if r.nova:
            await reservas.avisar_equipe(
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
            "descricao": descrever(r.vaga),
            "instrucao": CONFIRMACAO_PELA_JULIA,
        }
    alternativas = _alternativas(r.alternativas)
    explicacao = str(r.explicacao())
    if r.motivo in ERROS_DE_CLAUDE:
        mensagem = (
            explicacao if r.motivo == reservas.SEM_ESPECIALIDADE else f"a vaga {entrada.vaga_id} {explicacao}"
        )
        raise FalhaFerramenta(mensagem, alternativas=alternativas)
    motivo = explicacao if r.motivo in reservas.DO_MEDICO else f"a vaga {explicacao}"
    return {"reservada": False, "motivo": motivo, "alternativas": alternativas}


def _nome(ctx: Contexto) -> str:
    nome = " ".join(p for p in (ctx.medico.get("primeiro_nome"), ctx.medico.get("sobrenome")) if p)
    return f"{nome} ({ctx.tarefa.telefone})" if nome else str(ctx.tarefa.telefone)


# --- buscar_vagas -------------------------------------------------------------------------------------


class EntradaBuscar(BaseModel):
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


async def buscar_vagas(ctx: Contexto, entrada: EntradaBuscar) -> Resultado:
    especialidade = ctx.medico.get("especialidade_id")
    if especialidade is None:
        raise FalhaFerramenta(reservas.SEM_ESPECIALIDADE)
    if entrada.data_inicio and entrada.data_fim and entrada.data_fim < entrada.data_inicio:
        raise FalhaFerramenta("data_fim é anterior a data_inicio")
    # A city names its state; without one, the doctor's own state (their CRM's), as in the context.
    estado = entrada.estado or (None if entrada.cidade else preferencias.uf_do_crm(ctx.medico.get("crm")))
    # State and city are filtered in SQL, through the cache (the same generation per specialty). The
    # list is soonest first, so the shifts up to data_fim are a prefix of it: filtering them here is exact.
    abertas = await vagas_abertas(
        ctx.s.pool,
        ctx.s.cache,
        especialidade,
        BUSCA_DEVOLVIDAS,
        desde=entrada.data_inicio,
        estado=estado,
        cidade=entrada.cidade,
    )
    achadas = [
        v
        for v in abertas
        if entrada.data_fim is None or dt.date.fromisoformat(str(v["data_plantao"])) <= entrada.data_fim
    ]
    return {"vagas": _alternativas(preferencias.ordenar(achadas, ctx.medico.get("preferencias") or {}))}


# --- pedir_humano -------------------------------------------------------------------------------------


class EntradaPedirHumano(BaseModel):
    model_config = ConfigDict(extra="forbid")
    motivo: str = Field(min_length=1, description="Por que uma pessoa da equipe deve assumir, em uma frase.")


async def pedir_humano(ctx: Contexto, entrada: EntradaPedirHumano) -> Resultado:
    s, tarefa = ctx.s, ctx.tarefa
    # One statement (the conversation's control and the handoffs row together), committed on the pool.
    new_handoff = await handoff.hand_over(
        s.pool, tarefa.conversa_id, entrada.motivo.strip(), telefone=tarefa.telefone
    )
    ctx.passou_para_humano = True
    if new_handoff is not None:  # a person did not already have it: notify once
        await new_handoff.notify(
            s.slack, s.chatwoot, chatwoot_conversa_id=await ctx.chatwoot_conversa_id(), label=True
        )
    return {"transferida": True, "instrucao": "Avise o médico que uma pessoa da equipe vai continuar."}


# --- registrar_opt_out ---------------------------------------------------------------------------------


class EntradaOptOut(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def registrar_opt_out(ctx: Contexto, entrada: EntradaOptOut) -> Resultado:
    """The doctor asked to stop in other words than the keywords (julia.services.opt_out catches those
    at the webhook): opt_out at once, unsent messages cancelled and the fixed confirmation queued, in one
    transaction."""
    cliente_id, conversa_id = ctx.tarefa.cliente_id, ctx.tarefa.conversa_id
    async with ctx.s.pool.acquire() as conn, conn.transaction():
        instrucao = await opt_out.ferramenta_registrar_opt_out(
            conn, cliente_id, conversa_id, {}, com_equipe=ctx.s.chatwoot is not None
        )
    await invalidar_medico(ctx.s.cache, cliente_id, ctx.tarefa.telefone)
    return {"opt_out": True, "instrucao": instrucao}


# --- the registry -------------------------------------------------------------------------------------

FERRAMENTAS: Final[tuple[Ferramenta[Any], ...]] = (
    Ferramenta(
        "reservar_vaga",
        "Reserva a vaga aberta para este médico, quando ele aceitar uma vaga específica. Se outra pessoa "
        "reservou antes, o resultado traz até três alternativas para oferecer.",
        EntradaReservar,
        reservar_vaga,
    ),
    Ferramenta(
        "buscar_vagas",
        "Busca vagas abertas da especialidade do médico, quando as do contexto não bastam (outra data, "
        "outra cidade).",
        EntradaBuscar,
        buscar_vagas,
    ),
    Ferramenta(
        "pedir_humano",
        "Passa a conversa para uma pessoa da equipe: o médico pediu, reclamou, ou o assunto foge de "
        "plantões.",
        EntradaPedirHumano,
        pedir_humano,
    ),
    Ferramenta(
        "registrar_opt_out",
        "Registra que o médico não quer mais receber mensagens (pediu para parar, sair, não ser mais "
        "contatado, com qualquer palavra). Depois, confirme em uma frase e não ofereça mais nada.",
        EntradaOptOut,
        registrar_opt_out,
    ),
)
REGISTRO: Final[dict[str, Ferramenta[Any]]] = {f.nome: f for f in FERRAMENTAS}


@functools.cache
def definicoes() -> tuple[ToolParam, ...]:
    """The `tools` of every request; the last one carries cache_control, caching tools with the prompt.
    Built once: pydantic's model_json_schema was 3% of the worker's CPU when built per call."""
    tools = [f.definicao() for f in FERRAMENTAS]
    tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}
    return tuple(tools)


async def executar(ctx: Contexto, chamada: ChamadaFerramenta) -> ToolResultBlockParam:
    """Run one tool_use and answer its tool_result; never raises for the tool's sake (a Postgres failure
    writing the audit does raise: an unaudited action must not pass silently, and the retry redoes it)."""
    resultado, erro = await _rodar(ctx, chamada)
    await answering.audit_tool_call(
        ctx.s.pool,
        conversa_id=ctx.tarefa.conversa_id,
        interacao_id=ctx.tarefa.interacao_id,
        tool=chamada.nome,
        arguments=chamada.entrada,
        result=resultado,
        error=erro,
    )
    return {
        "type": "tool_result",
        "tool_use_id": chamada.id,
        "content": json.dumps(resultado, ensure_ascii=False),
        "is_error": erro,
    }


async def _rodar(ctx: Contexto, chamada: ChamadaFerramenta) -> tuple[Resultado, bool]:
    ferramenta = REGISTRO.get(chamada.nome)
    if ferramenta is None:
        return {"erro": f"ferramenta desconhecida: {chamada.nome}"}, True
    try:
        entrada = ferramenta.entrada.model_validate(chamada.entrada)
    except ValidationError as exc:
        erros = [f"{'.'.join(map(str, e['loc'])) or 'entrada'}: {e['msg']}" for e in exc.errors()]
        return {"erro": "entrada inválida", "detalhes": erros}, True
    try:
        return await ferramenta.executar(ctx, entrada), False
    except FalhaFerramenta as exc:
        return {"erro": str(exc), **exc.detalhes}, True
    except Exception as exc:  # a tool must never take the answer down with it
        log.exception("tool %s failed for entrada %s", chamada.nome, ctx.tarefa.id)
        return {"erro": f"falha ao executar {chamada.nome}: {type(exc).__name__}"}, True
