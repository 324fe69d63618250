"""Answering one inbound message: control check, context, Claude, and the reply stored and queued by the
statement that marks the inbound row done (so a reply is queued exactly once or not at all)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from julia import clock, prompts
from julia.cache import invalidate_medico, open_vagas, static_context
from julia.integrations import IntegrationError
from julia.integrations.claude import Turn
from julia.metrics import metrics
from julia.services import answering, budget, handoff, opt_out, preferences
from julia.services.plantoes import describe
from julia.services.queues import InboundQueue, InboundRow, LeaseLost
from julia.worker import dialogue
from julia.worker.context import WorkerContext
from julia.worker.mirroring import mirror
from julia.worker.tools import ToolContext

log = logging.getLogger(__name__)

VAGAS_IN_CONTEXT = 5  # shifts Claude is shown per reply: enough to choose, few enough to read
VAGAS_LOOKED_UP = 2 * VAGAS_IN_CONTEXT  # read (one query, or the cache) to pick the preferred among

AVISO_HANDOFF = "Claro! Vou chamar uma pessoa da nossa equipe para falar com você. Só um instante."
ASKED_REASON = "médico pediu para falar com uma pessoa"
# An edit or delete of a message that led to a reservation (an "aceito" taken back): a person confirms.
CHANGE_AVISO = (
    "Vi que você mudou a mensagem sobre o plantão que reservamos. Vou chamar uma pessoa da nossa equipe "
    "para confirmar com você. Só um instante."
)
CHANGE_REASON = "médico editou ou apagou a mensagem que levou a uma reserva"
# Claude cannot answer this message, and asking again will not change that (a refusal, a request the API
# refuses, a reply cut before its first sentence): a person answers instead of silence.
NO_REPLY_REASON = "Júlia não conseguiu responder"
# Media Júlia cannot read (a voice note, an image without caption): a fixed reply, no Claude call, at most
# once per conversation in JANELA_PEDIR_TEXTO_S (three voice notes in a row get one ask, not three).
ASK_TEXT = (
    "Desculpe, por aqui eu ainda não consigo ouvir áudios nem abrir imagens ou arquivos. "
    "Pode me escrever em texto?"
)
ASK_TEXT_WINDOW_S = 600.0
# Past a daily Claude budget (julia/services/budget.py): a person takes the conversation. True: the
# handoff is made in the same transaction, and the team answers handoffs (docs/runbook.md).
BUDGET_AVISO = (
    "Obrigada pelas mensagens! Para continuar, vou passar nossa conversa para uma pessoa da nossa equipe, "
    "que responde por aqui assim que puder."
)
LEAD_BUDGET_REASON = "lead passou do limite diário de respostas da Júlia (LEAD_CLAUDE_REPLIES_PER_DAY)"
MEDICO_BUDGET_REASON = "médico passou do orçamento diário de tokens (CLAUDE_TOKENS_PER_DOCTOR_DAY)"
# A lead while the whole service is past its day's budget: once a day, then stored and mirrored only.
# True: their messages are kept for the team (Chatwoot), and tomorrow's are answered again.
AVISO_WITHOUT_CLAUDE = (
    "Recebi sua mensagem e ela ficou registrada para a nossa equipe. Hoje não consigo continuar a "
    "conversa por aqui; amanhã posso responder de novo."
)
# The first message of a backlog that arrived late (MENSAGEM_ANTIGA_S): one per conversation and window.
DELAY_APOLOGY = (
    "Desculpe a demora, só agora vi suas mensagens. Ainda posso ajudar? Me conta por aqui o que precisa."
)
# Doctors Júlia must not write to: they asked her to stop, or the team blocked them. Their messages are
# still stored and mirrored to Chatwoot, where a person can read them.
WITHOUT_REPLY = frozenset({"opt_out", "bloqueado"})
# The first turn when the history starts with Júlia (the Messages API wants the doctor's turn first).
HISTORY_START = "(início da conversa)"
# What Claude reads of the history, in characters (about 4 per token): a message is cut at
# MAX_CARACTERES_MENSAGEM (a 64,000-character paste is not read whole) and the oldest turns are left out
# past MAX_CARACTERES_HISTORICO, so no conversation outgrows the context window, however long it gets.
MAX_MESSAGE_CHARS = 4_000
MAX_HISTORY_CHARS = 24_000
CUTOFF = " […]"


@metrics.timed("processar_mensagem")
async def process(s: WorkerContext, task: InboundRow, queue: InboundQueue) -> None:
    """Answer one row claimed from `fila`; `tarefa` carries what reivindicar_entradas returns (text,
    control, phone)."""
    texto: str = task.conteudo
    mirroring: asyncio.Task[int | None] | None = None
    if task.tentativas == 1:  # mirrored once, not again on each retry; concurrently with the reply
        mirroring = asyncio.create_task(
            mirror(
                s,
                task.conversa_id,
                texto,
                "incoming",
                known=task.chatwoot_conversation_id,
            )
        )
    tratamento: str = task.tratamento
    try:
        if task.controlled_by == "humano" or task.status_medico in WITHOUT_REPLY or tratamento == "registrar":
            await queue.done(s.pool, task, None, even_if_human=False)  # no reply: only the mirror
        elif tratamento == "pedir_texto":
            await _once(s, queue, task, ASK_TEXT, "pedir_texto", ASK_TEXT_WINDOW_S)
        elif tratamento == "desculpar":
            await _once(s, queue, task, DELAY_APOLOGY, "desculpa_atraso", s.settings.mensagem_antiga_s)
        elif tratamento == "passar":
            await _ask_human(s, queue, task, mirroring, CHANGE_REASON, CHANGE_AVISO)
        elif handoff.asks_human(texto):
            await _ask_human(s, queue, task, mirroring, ASKED_REASON, AVISO_HANDOFF)
        else:
            await _in_budget(s, task, queue, mirroring)
    except LeaseLost:
        log.warning("entrada %s: lease lost to another worker; this attempt's reply discarded", task.id)
    finally:
        if mirroring is not None:
            await mirroring


async def _in_budget(
    s: WorkerContext, task: InboundRow, queue: InboundQueue, mirroring: asyncio.Task[int | None] | None
) -> None:
    """Claude answers within the day's budgets (julia/services/budget.py says what happens past them)."""
    lead = task.status_medico == "novo"
    decision = await budget.decide(s.cache, s.settings, task.cliente_id, lead=lead)
    if decision == "humano":
        motivo = LEAD_BUDGET_REASON if lead else MEDICO_BUDGET_REASON
        await _ask_human(s, queue, task, mirroring, motivo, BUDGET_AVISO)
    elif decision == "aviso":
        first = await budget.first_aviso(s.cache, task.cliente_id)
        await queue.done(s.pool, task, AVISO_WITHOUT_CLAUDE if first else None, even_if_human=False)
    else:
        await _reply(s, task, queue, mirroring)


async def _reply(
    s: WorkerContext, task: InboundRow, queue: InboundQueue, mirroring: asyncio.Task[int | None] | None
) -> None:
    medico = await static_context(s.pool, s.cache, task.cliente_id)
    assert medico is not None
    especialidade = medico["especialidade_id"]
    # The doctor's state's shifts (their CRM's), those matching their preferences first.
    uf = preferences.uf_do_crm(medico.get("crm"))
    abertas = (
        await open_vagas(s.pool, s.cache, especialidade, VAGAS_LOOKED_UP, estado=uf) if especialidade else []
    )
    vagas = preferences.sort(abertas, medico.get("preferencias") or {})[:VAGAS_IN_CONTEXT]
    history = await answering.history(s.pool, task.conversa_id)
    turns = build_turns(history, ate=task.interacao_id)
    ctx = ToolContext(s, task, medico, mirroring)
    try:
        dynamic = dynamic_context(medico, vagas, clock.now())
        texto = await dialogue.converse(ctx, prompts.system(), dynamic, turns)
    except IntegrationError as exc:
        if exc.servico == "claude" and not exc.transient_one:
            log.error("entrada %s: Claude cannot answer it (%s); handed to a person", task.id, exc)
            motivo = f"{NO_REPLY_REASON}: {exc.motivo}"
            await _ask_human(s, queue, task, mirroring, motivo, AVISO_HANDOFF)
            return
        await queue.refused(s.pool, task, exc)  # a rate limit waits, anything else is a try
        return
    finally:  # every call's tokens count, a failed answer's too
        await budget.spend(s.cache, s.settings, s.slack, task.cliente_id, ctx.tokens)
    if opt_out.confirms_opt_out(texto):
        await _opt_out_confirmed(s, queue, task, texto)
        return
    # After pedir_humano the conversation is a person's, yet Júlia's "I am calling someone" goes out.
    # One statement, so no transaction: done, stored and queued together or not at all.
    await queue.done(s.pool, task, texto, even_if_human=ctx.went_to_human, prompt_version=prompts.VERSION)


async def _opt_out_confirmed(s: WorkerContext, queue: InboundQueue, task: InboundRow, texto: str) -> None:
    """The backstop: Claude's reply tells the doctor they will get nothing more. Whether or not its
    registrar_opt_out tool ran, the opt-out is registered (a no-op when the tool did) with the fixed
    confirmation; Claude's own words are then not queued (concluir_entrada sends nothing to an opt_out
    doctor), so every opt-out ends in the same confirmation and none is promised without being made."""
    async with s.pool.acquire() as conn, conn.transaction():
        recorded_one = await opt_out.registrar_opt_out(
            conn, task.cliente_id, task.conversa_id, with_team=s.chatwoot is not None
        )
        await queue.done(conn, task, texto, even_if_human=False, prompt_version=prompts.VERSION)
    if recorded_one:
        log.warning("entrada %s: Claude confirmed an opt-out no tool recorded; registered", task.id)
    await invalidate_medico(s.cache, task.cliente_id, task.telefone)


async def _once(
    s: WorkerContext,
    queue: InboundQueue,
    task: InboundRow,
    aviso: str,
    which_one: answering.Once,
    janela_s: float,
) -> None:
    """A fixed reply the conversation gets once per `janela_s` (`qual` of them, marked when this is the
    time): the apology for a late backlog, the ask for text. The other messages are only stored and
    mirrored."""
    async with s.pool.acquire() as conn, conn.transaction():
        first_one = await answering.first_in_window(conn, which_one, task.conversa_id, janela_s)
        await queue.done(conn, task, aviso if first_one else None, even_if_human=False)


async def _ask_human(
    s: WorkerContext,
    queue: InboundQueue,
    task: InboundRow,
    mirroring: asyncio.Task[int | None] | None,
    motivo: str,
    aviso: str,
) -> None:
    async with s.pool.acquire() as conn, conn.transaction():
        new_handoff = await handoff.hand_over(conn, task.conversa_id, motivo, telefone=task.telefone)
        await queue.done(conn, task, aviso, even_if_human=True)
    if new_handoff is None:
        return
    # The label needs the Chatwoot conversation that the inbound mirror may be creating right now.
    chatwoot_id = (await mirroring if mirroring is not None else None) or task.chatwoot_conversation_id
    await new_handoff.notify(s.slack, s.chatwoot, chatwoot_conversa_id=chatwoot_id, label=True)


def build_turns(history: Sequence[answering.Interacao], *, ate: int) -> list[Turn]:
    """History (newest first) -> Claude's turns, oldest first, ending with the message being answered
    (`ate`). The doctor's later messages are left out (each gets its own reply); Júlia's replies are all
    kept, even one stored after `ate` (she answered the previous message while this one was arriving),
    so Claude knows what she already said. Consecutive messages of one side are joined. The turns start
    with the doctor, as the Messages API expects: when the history starts with Júlia (a campaign's offer,
    which the doctor is answering), a short marker turn goes first, so Claude still reads what she wrote.
    Bounded by size: each message cut at MAX_CARACTERES_MENSAGEM, and the oldest left out once the
    newest fill MAX_CARACTERES_HISTORICO (the message being answered is always kept)."""
    current = [linha for linha in history if linha.id == ate]
    previous = [
        linha for linha in history if linha.id != ate and (linha.direcao == "saida" or linha.id < ate)
    ]
    kept: list[tuple[str, str]] = []
    total = 0
    for linha in [*current, *previous]:  # newest first: what the budget keeps
        conteudo = _trim(linha.conteudo)
        total += len(conteudo)
        if kept and total > MAX_HISTORY_CHARS:
            break
        kept.append((linha.direcao, conteudo))
    # The message being answered goes last, after every earlier one (kept in the history's order).
    order = [*reversed(kept[1:]), kept[0]] if current else list(reversed(kept))
    turns: list[Turn] = []
    for direcao, conteudo in order:
        role: Any = "user" if direcao == "entrada" else "assistant"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + conteudo
        else:
            if not turns and role == "assistant":
                turns.append({"role": "user", "content": HISTORY_START})
            turns.append({"role": role, "content": conteudo})
    return turns


def _trim(conteudo: str) -> str:
    if len(conteudo) <= MAX_MESSAGE_CHARS:
        return conteudo
    return conteudo[: MAX_MESSAGE_CHARS - len(CUTOFF)] + CUTOFF


def dynamic_context(medico: dict[str, Any], vagas: Sequence[Mapping[str, Any]], now: dt.datetime) -> str:
    """Now in São Paulo (so "amanhã" and "sábado" are not guessed), this doctor and their preferences, and
    the open shifts of their specialty in their CRM's state (with their ids, which the tools take), as the
    uncached part of the system prompt."""
    nome = " ".join(p for p in (medico.get("primeiro_nome"), medico.get("sobrenome")) if p) or "não informado"
    local = now.astimezone(clock.TIMEZONE)
    linhas = [
        "## Contexto desta conversa",
        f"Agora: {clock.weekday(local.date())}, {local:%d/%m/%Y}, {local:%H:%M} (horário de Brasília).",
        f"Médico: {nome}; CRM: {medico.get('crm') or 'não informado'}; "
        f"especialidade: {medico.get('especialidade') or 'não informada'}; cadastro: {medico.get('status')}.",
    ]
    likes = preferences.describe(medico.get("preferencias") or {})
    if likes:
        linhas.append(f"Preferências do médico: {likes}.")
    uf = preferences.uf_do_crm(medico.get("crm"))
    where = f" no estado do CRM ({uf}; para outros lugares, buscar_vagas com a cidade)" if uf else ""
    if not vagas:
        linhas.append(f"Plantões abertos compatíveis{where}: nenhum no momento.")
        return "\n".join(linhas)
    linhas.append(
        f"Plantões abertos compatíveis{where}, preferidos primeiro (o número é o vaga_id das ferramentas):"
    )
    linhas.extend(f"- vaga {v['id']}: {describe(v)}" for v in vagas)
    return "\n".join(linhas)
