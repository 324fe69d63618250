"""Answering one inbound message: control check, context, Claude, and the reply stored and queued by the
statement that marks the inbound row done (so a reply is queued exactly once or not at all)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from julia import prompts, relogio
from julia.cache import contexto_estatico, invalidar_medico, vagas_abertas
from julia.integrations import IntegracaoError
from julia.integrations.claude import Turno
from julia.metrics import metrics
from julia.services import answering, handoff, opt_out, orcamento, preferencias
from julia.services.plantoes import descrever
from julia.services.queues import InboundQueue, InboundRow, LeaseLost
from julia.worker import dialogo
from julia.worker.context import WorkerContext
from julia.worker.espelho import espelhar
from julia.worker.ferramentas import Contexto

log = logging.getLogger(__name__)

VAGAS_NO_CONTEXTO = 5  # shifts Claude is shown per reply: enough to choose, few enough to read
VAGAS_CONSULTADAS = 2 * VAGAS_NO_CONTEXTO  # read (one query, or the cache) to pick the preferred among

AVISO_HANDOFF = "Claro! Vou chamar uma pessoa da nossa equipe para falar com você. Só um instante."
MOTIVO_PEDIDO = "médico pediu para falar com uma pessoa"
# An edit or delete of a message that led to a reservation (an "aceito" taken back): a person confirms.
AVISO_ALTERACAO = (
    "Vi que você mudou a mensagem sobre o plantão que reservamos. Vou chamar uma pessoa da nossa equipe "
    "para confirmar com você. Só um instante."
)
MOTIVO_ALTERACAO = "médico editou ou apagou a mensagem que levou a uma reserva"
# Claude cannot answer this message, and asking again will not change that (a refusal, a request the API
# refuses, a reply cut before its first sentence): a person answers instead of silence.
MOTIVO_SEM_RESPOSTA = "Júlia não conseguiu responder"
# Media Júlia cannot read (a voice note, an image without caption): a fixed reply, no Claude call, at most
# once per conversation in JANELA_PEDIR_TEXTO_S (three voice notes in a row get one ask, not three).
PEDIR_TEXTO = (
    "Desculpe, por aqui eu ainda não consigo ouvir áudios nem abrir imagens ou arquivos. "
    "Pode me escrever em texto?"
)
JANELA_PEDIR_TEXTO_S = 600.0
# Past a daily Claude budget (julia/services/orcamento.py): a person takes the conversation. True: the
# handoff is made in the same transaction, and the team answers handoffs (docs/runbook.md).
AVISO_ORCAMENTO = (
    "Obrigada pelas mensagens! Para continuar, vou passar nossa conversa para uma pessoa da nossa equipe, "
    "que responde por aqui assim que puder."
)
MOTIVO_ORCAMENTO_LEAD = "lead passou do limite diário de respostas da Júlia (LEAD_CLAUDE_REPLIES_PER_DAY)"
MOTIVO_ORCAMENTO_MEDICO = "médico passou do orçamento diário de tokens (CLAUDE_TOKENS_PER_DOCTOR_DAY)"
# A lead while the whole service is past its day's budget: once a day, then stored and mirrored only.
# True: their messages are kept for the team (Chatwoot), and tomorrow's are answered again.
AVISO_SEM_CLAUDE = (
    "Recebi sua mensagem e ela ficou registrada para a nossa equipe. Hoje não consigo continuar a "
    "conversa por aqui; amanhã posso responder de novo."
)
# The first message of a backlog that arrived late (MENSAGEM_ANTIGA_S): one per conversation and window.
DESCULPA_ATRASO = (
    "Desculpe a demora, só agora vi suas mensagens. Ainda posso ajudar? Me conta por aqui o que precisa."
)
# Doctors Júlia must not write to: they asked her to stop, or the team blocked them. Their messages are
# still stored and mirrored to Chatwoot, where a person can read them.
SEM_RESPOSTA = frozenset({"opt_out", "bloqueado"})
# The first turn when the history starts with Júlia (the Messages API wants the doctor's turn first).
INICIO_DO_HISTORICO = "(início da conversa)"
# What Claude reads of the history, in characters (about 4 per token): a message is cut at
# MAX_CARACTERES_MENSAGEM (a 64,000-character paste is not read whole) and the oldest turns are left out
# past MAX_CARACTERES_HISTORICO, so no conversation outgrows the context window, however long it gets.
MAX_CARACTERES_MENSAGEM = 4_000
MAX_CARACTERES_HISTORICO = 24_000
CORTE = " […]"


@metrics.timed("processar_mensagem")
async def processar(s: WorkerContext, tarefa: InboundRow, fila: InboundQueue) -> None:
    """Answer one row claimed from `fila`; `tarefa` carries what reivindicar_entradas returns (text,
    control, phone)."""
    texto: str = tarefa.conteudo
    espelho: asyncio.Task[int | None] | None = None
    if tarefa.tentativas == 1:  # mirrored once, not again on each retry; concurrently with the reply
        espelho = asyncio.create_task(
            espelhar(
                s,
                tarefa.conversa_id,
                texto,
                "incoming",
                conhecido=tarefa.chatwoot_conversation_id,
            )
        )
    tratamento: str = tarefa.tratamento
    try:
        if (
            tarefa.controlled_by == "humano"
            or tarefa.status_medico in SEM_RESPOSTA
            or tratamento == "registrar"
        ):
            await fila.done(s.pool, tarefa, None, even_if_human=False)  # no reply: only the mirror
        elif tratamento == "pedir_texto":
            await _uma_vez(s, fila, tarefa, PEDIR_TEXTO, "pedir_texto", JANELA_PEDIR_TEXTO_S)
        elif tratamento == "desculpar":
            await _uma_vez(s, fila, tarefa, DESCULPA_ATRASO, "desculpa_atraso", s.settings.mensagem_antiga_s)
        elif tratamento == "passar":
            await _pedir_humano(s, fila, tarefa, espelho, MOTIVO_ALTERACAO, AVISO_ALTERACAO)
        elif handoff.pede_humano(texto):
            await _pedir_humano(s, fila, tarefa, espelho, MOTIVO_PEDIDO, AVISO_HANDOFF)
        else:
            await _no_orcamento(s, tarefa, fila, espelho)
    except LeaseLost:
        log.warning("entrada %s: lease lost to another worker; this attempt's reply discarded", tarefa.id)
    finally:
        if espelho is not None:
            await espelho


async def _no_orcamento(
    s: WorkerContext, tarefa: InboundRow, fila: InboundQueue, espelho: asyncio.Task[int | None] | None
) -> None:
    """Claude answers within the day's budgets (julia/services/orcamento.py says what happens past them)."""
    lead = tarefa.status_medico == "novo"
    decisao = await orcamento.decidir(s.cache, s.settings, tarefa.cliente_id, lead=lead)
    if decisao == "humano":
        motivo = MOTIVO_ORCAMENTO_LEAD if lead else MOTIVO_ORCAMENTO_MEDICO
        await _pedir_humano(s, fila, tarefa, espelho, motivo, AVISO_ORCAMENTO)
    elif decisao == "aviso":
        primeiro = await orcamento.primeiro_aviso(s.cache, tarefa.cliente_id)
        await fila.done(s.pool, tarefa, AVISO_SEM_CLAUDE if primeiro else None, even_if_human=False)
    else:
        await _responder(s, tarefa, fila, espelho)


async def _responder(
    s: WorkerContext, tarefa: InboundRow, fila: InboundQueue, espelho: asyncio.Task[int | None] | None
) -> None:
    medico = await contexto_estatico(s.pool, s.cache, tarefa.cliente_id)
    assert medico is not None
    especialidade = medico["especialidade_id"]
    # The doctor's state's shifts (their CRM's), those matching their preferences first.
    uf = preferencias.uf_do_crm(medico.get("crm"))
    abertas = (
        await vagas_abertas(s.pool, s.cache, especialidade, VAGAS_CONSULTADAS, estado=uf)
        if especialidade
        else []
    )
    vagas = preferencias.ordenar(abertas, medico.get("preferencias") or {})[:VAGAS_NO_CONTEXTO]
    historico = await answering.history(s.pool, tarefa.conversa_id)
    turnos = montar_turnos(historico, ate=tarefa.interacao_id)
    ctx = Contexto(s, tarefa, medico, espelho)
    try:
        dinamico = contexto_dinamico(medico, vagas, relogio.agora())
        texto = await dialogo.conversar(ctx, prompts.sistema(), dinamico, turnos)
    except IntegracaoError as exc:
        if exc.servico == "claude" and not exc.transitorio:
            log.error("entrada %s: Claude cannot answer it (%s); handed to a person", tarefa.id, exc)
            motivo = f"{MOTIVO_SEM_RESPOSTA}: {exc.motivo}"
            await _pedir_humano(s, fila, tarefa, espelho, motivo, AVISO_HANDOFF)
            return
        await fila.refused(s.pool, tarefa, exc)  # a rate limit waits, anything else is a try
        return
    finally:  # every call's tokens count, a failed answer's too
        await orcamento.gastar(s.cache, s.settings, s.slack, tarefa.cliente_id, ctx.tokens)
    if opt_out.confirma_opt_out(texto):
        await _opt_out_confirmado(s, fila, tarefa, texto)
        return
    # After pedir_humano the conversation is a person's, yet Júlia's "I am calling someone" goes out.
    # One statement, so no transaction: done, stored and queued together or not at all.
    await fila.done(
        s.pool, tarefa, texto, even_if_human=ctx.passou_para_humano, prompt_version=prompts.VERSAO
    )


async def _opt_out_confirmado(s: WorkerContext, fila: InboundQueue, tarefa: InboundRow, texto: str) -> None:
    """The backstop: Claude's reply tells the doctor they will get nothing more. Whether or not its
    registrar_opt_out tool ran, the opt-out is registered (a no-op when the tool did) with the fixed
    confirmation; Claude's own words are then not queued (concluir_entrada sends nothing to an opt_out
    doctor), so every opt-out ends in the same confirmation and none is promised without being made."""
    async with s.pool.acquire() as conn, conn.transaction():
        registrado = await opt_out.registrar_opt_out(
            conn, tarefa.cliente_id, tarefa.conversa_id, com_equipe=s.chatwoot is not None
        )
        await fila.done(conn, tarefa, texto, even_if_human=False, prompt_version=prompts.VERSAO)
    if registrado:
        log.warning("entrada %s: Claude confirmed an opt-out no tool recorded; registered", tarefa.id)
    await invalidar_medico(s.cache, tarefa.cliente_id, tarefa.telefone)


async def _uma_vez(
    s: WorkerContext,
    fila: InboundQueue,
    tarefa: InboundRow,
    aviso: str,
    qual: answering.Once,
    janela_s: float,
) -> None:
    """A fixed reply the conversation gets once per `janela_s` (`qual` of them, marked when this is the
    time): the apology for a late backlog, the ask for text. The other messages are only stored and
    mirrored."""
    async with s.pool.acquire() as conn, conn.transaction():
        primeira = await answering.first_in_window(conn, qual, tarefa.conversa_id, janela_s)
        await fila.done(conn, tarefa, aviso if primeira else None, even_if_human=False)


async def _pedir_humano(
    s: WorkerContext,
    fila: InboundQueue,
    tarefa: InboundRow,
    espelho: asyncio.Task[int | None] | None,
    motivo: str,
    aviso: str,
) -> None:
    async with s.pool.acquire() as conn, conn.transaction():
        new_handoff = await handoff.hand_over(conn, tarefa.conversa_id, motivo, telefone=tarefa.telefone)
        await fila.done(conn, tarefa, aviso, even_if_human=True)
    if new_handoff is None:
        return
    # The label needs the Chatwoot conversation that the inbound mirror may be creating right now.
    chatwoot_id = (await espelho if espelho is not None else None) or tarefa.chatwoot_conversation_id
    await new_handoff.notify(s.slack, s.chatwoot, chatwoot_conversa_id=chatwoot_id, label=True)


def montar_turnos(historico: Sequence[answering.Interacao], *, ate: int) -> list[Turno]:
    """History (newest first) -> Claude's turns, oldest first, ending with the message being answered
    (`ate`). The doctor's later messages are left out (each gets its own reply); Júlia's replies are all
    kept, even one stored after `ate` (she answered the previous message while this one was arriving),
    so Claude knows what she already said. Consecutive messages of one side are joined. The turns start
    with the doctor, as the Messages API expects: when the history starts with Júlia (a campaign's offer,
    which the doctor is answering), a short marker turn goes first, so Claude still reads what she wrote.
    Bounded by size: each message cut at MAX_CARACTERES_MENSAGEM, and the oldest left out once the
    newest fill MAX_CARACTERES_HISTORICO (the message being answered is always kept)."""
    atual = [linha for linha in historico if linha.id == ate]
    anteriores = [
        linha for linha in historico if linha.id != ate and (linha.direcao == "saida" or linha.id < ate)
    ]
    mantidas: list[tuple[str, str]] = []
    total = 0
    for linha in [*atual, *anteriores]:  # newest first: what the budget keeps
        conteudo = _cortar(linha.conteudo)
        total += len(conteudo)
        if mantidas and total > MAX_CARACTERES_HISTORICO:
            break
        mantidas.append((linha.direcao, conteudo))
    # The message being answered goes last, after every earlier one (kept in the history's order).
    ordem = [*reversed(mantidas[1:]), mantidas[0]] if atual else list(reversed(mantidas))
    turnos: list[Turno] = []
    for direcao, conteudo in ordem:
        papel: Any = "user" if direcao == "entrada" else "assistant"
        if turnos and turnos[-1]["role"] == papel:
            turnos[-1]["content"] += "\n" + conteudo
        else:
            if not turnos and papel == "assistant":
                turnos.append({"role": "user", "content": INICIO_DO_HISTORICO})
            turnos.append({"role": papel, "content": conteudo})
    return turnos


def _cortar(conteudo: str) -> str:
    if len(conteudo) <= MAX_CARACTERES_MENSAGEM:
        return conteudo
    return conteudo[: MAX_CARACTERES_MENSAGEM - len(CORTE)] + CORTE


def contexto_dinamico(medico: dict[str, Any], vagas: Sequence[Mapping[str, Any]], agora: dt.datetime) -> str:
    """Now in São Paulo (so "amanhã" and "sábado" are not guessed), this doctor and their preferences, and
    the open shifts of their specialty in their CRM's state (with their ids, which the tools take), as the
    uncached part of the system prompt."""
    nome = " ".join(p for p in (medico.get("primeiro_nome"), medico.get("sobrenome")) if p) or "não informado"
    local = agora.astimezone(relogio.FUSO)
    linhas = [
        "## Contexto desta conversa",
        f"Agora: {relogio.dia_da_semana(local.date())}, {local:%d/%m/%Y}, {local:%H:%M} "
        "(horário de Brasília).",
        f"Médico: {nome}; CRM: {medico.get('crm') or 'não informado'}; "
        f"especialidade: {medico.get('especialidade') or 'não informada'}; cadastro: {medico.get('status')}.",
    ]
    gosta = preferencias.descrever(medico.get("preferencias") or {})
    if gosta:
        linhas.append(f"Preferências do médico: {gosta}.")
    uf = preferencias.uf_do_crm(medico.get("crm"))
    onde = f" no estado do CRM ({uf}; para outros lugares, buscar_vagas com a cidade)" if uf else ""
    if not vagas:
        linhas.append(f"Plantões abertos compatíveis{onde}: nenhum no momento.")
        return "\n".join(linhas)
    linhas.append(
        f"Plantões abertos compatíveis{onde}, preferidos primeiro (o número é o vaga_id das ferramentas):"
    )
    linhas.extend(f"- vaga {v['id']}: {descrever(v)}" for v in vagas)
    return "\n".join(linhas)
