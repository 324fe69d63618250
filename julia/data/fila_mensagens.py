"""fila_mensagens: the messages to send, a lease queue (its policy: julia/services/fila.py) over the
statements of julia/sql/fila_mensagens.sql."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from julia.data._executor import Executor, fetch_one
from julia.metrics import metrics
from julia.queries import sql
from julia.templates import TemplateMessage


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A claimed message: reivindicar_mensagens's RETURNING list, name for name (a column added there and
    not here fails at the first claim, and code reading a field the list lacks fails mypy)."""

    id: int
    cliente_id: int
    conversa_id: int | None  # None: a campaign's or a notice's, stored in the history once sent
    interacao_id: int | None  # None: no interaction yet (a campaign's, a notice, an agent's from Chatwoot)
    conteudo: str
    prioridade: int
    agendar_para: dt.datetime
    tentativas: int  # every claim's; also the attempt id the delivery protocol fences on
    esperas: int  # the claims that were rate-limit waits, not counted against the cap
    campanha_id: str | None  # campanhas.id, chosen by the caller
    modelo: str | None  # an approved template's name (the Cloud API)
    modelo_parametros: list[str] | None
    fuso: str | None  # the doctor's time zone for a campaign's sending window; None: Brasília
    chatwoot_message_id: int | None  # an agent's message relayed from Chatwoot


@dataclass(frozen=True, slots=True)
class Destination:
    """What iniciar_envio decided for the row (`status`), where it goes (`telefone`), the doctor's first name
    (`primeiro_nome`, the re-engagement template's parameter) and whether the re-engagement template goes in
    the text's place (`reengajar`: free text the Cloud API would refuse)."""

    status: Literal["enviando", "cancelada", "pendente", "erro", "aguardando_resposta"]
    telefone: str
    primeiro_nome: str  # 'doutor(a)' when the doctor's row has none (julia/sql/fila_mensagens.sql)
    reengajar: bool


@dataclass(frozen=True, slots=True)
class SentMensagem:
    """marcar_enviada's row."""

    interacao_id: int | None  # None: a campaign's or a notice's message, no interaction yet


@dataclass(frozen=True, slots=True)
class FilaBacklog:
    """contar_fila_pendente's row."""

    pendentes: int
    vencidas: int  # due now
    mais_antiga_s: float  # how long the oldest due one has waited; 0 when none


@metrics.timed("reivindicar_mensagens")
async def reivindicar_mensagens(
    db: Executor, limit: int, lease_s: float, min_priority: int = 0
) -> list[ClaimedMessage]:
    """Claim up to `limite` due messages at `min_priority` or above, leased for `lease_s` seconds (see
    julia/sql/fila_mensagens.sql)."""
    rows = await db.fetch(sql("reivindicar_mensagens"), limit, float(lease_s), min_priority)
    return [ClaimedMessage(**row) for row in rows]


async def adiar_mensagem(db: Executor, fila_id: int, tentativas: int, wait_s: float, motivo: str) -> None:
    """Attempt `tentativas` did not send: pending again in `wait_s` seconds, with the reason."""
    await db.execute(sql("adiar_mensagem"), fila_id, tentativas, wait_s, motivo)


async def esperar_mensagem(db: Executor, fila_id: int, tentativas: int, wait_s: float, motivo: str) -> None:
    """Attempt `tentativas` met a rate limit: pending again in `wait_s` seconds, counted in `esperas`, not
    against the cap."""
    await db.execute(sql("esperar_mensagem"), fila_id, tentativas, wait_s, motivo)


async def falhar_mensagem(db: Executor, fila_id: int, tentativas: int, motivo: str) -> None:
    """Attempt `tentativas` failed for good: 'erro', with the reason."""
    await db.execute(sql("falhar_mensagem"), fila_id, tentativas, motivo)


async def reagendar_mensagem(
    db: Executor, fila_id: int, tentativas: int, when: dt.datetime, motivo: str
) -> None:
    """Not yet (the doctor's sending window, the number's hourly or daily most): pending again at `quando`,
    the claim not counted."""
    await db.execute(sql("reagendar_mensagem"), fila_id, tentativas, when, motivo)


async def devolver_mensagem(db: Executor, fila_id: int, tentativas: int) -> None:
    """A claimed row held back by a stop of sending before its send started: pending again, the claim not
    counted."""
    await db.execute(sql("devolver_mensagem"), fila_id, tentativas)


async def marcar_incerta(db: Executor, fila_id: int, tentativas: int, motivo: str) -> None:
    """The send of attempt `tentativas` may or may not have gone out: 'incerto', for a person to check."""
    await db.execute(sql("marcar_incerta"), fila_id, tentativas, motivo)


async def adiar_fila_semeada(db: Executor) -> int:
    """Make the seed's queued messages wait a day (`julia dev` only); how many were put off."""
    status = await db.execute(sql("adiar_fila_semeada"))
    return int(status.split()[-1])


async def registrar_resposta(
    db: Executor, conversa_id: int, cliente_id: int, texto: str, prioridade: int, versao_prompt: str | None
) -> int:
    """A message of Júlia's stored in the conversation (with the prompt version that wrote it; None for a
    fixed text) and queued, in one statement; the fila_mensagens id."""
    fila_id: int = await db.fetchval(
        sql("registrar_resposta"), conversa_id, cliente_id, texto, prioridade, versao_prompt
    )
    return fila_id


async def repassar_mensagem_agente(
    db: Executor, cliente_id: int, conversa_id: int, chatwoot_message_id: int, texto: str, prioridade: int
) -> Literal["pendente", "cancelada"] | None:
    """Queue an agent's message from Chatwoot to the doctor: 'pendente' (it goes), 'cancelada' (the doctor
    opted out or is blocked: it never goes), or None when that Chatwoot message was queued before (a
    redelivered webhook)."""
    row = await db.fetchrow(
        sql("repassar_mensagem_agente"), cliente_id, chatwoot_message_id, texto, conversa_id, prioridade
    )
    if row is None:
        return None
    return "cancelada" if row["status"] == "cancelada" else "pendente"


async def enfileirar_avisos(
    db: Executor, avisos: Sequence[tuple[int, TemplateMessage, dt.date]], prioridade: int
) -> None:
    """Queue notices, (doctor id, template message, the shift's date) each, outside any reply, in one
    statement: the text and the template with its parameters (the sender picks by the channel,
    julia/worker/sender.py); the shift's date decides whether the doctor's sending window holds it."""
    if avisos:
        await db.execute(
            sql("enfileirar_avisos"),
            [c for c, _, _ in avisos],
            [m.text for _, m, _ in avisos],
            prioridade,
            [m.template.name for _, m, _ in avisos],
            [list(m.values) for _, m, _ in avisos],
            [d for _, _, d in avisos],
        )


@dataclass(frozen=True)
class SendRules:
    """What iniciar_envio holds a row to, from the settings (see julia/sql/fila_mensagens.sql)."""

    free_text_needs_24h_window: (
        bool  # the Cloud API: free text only to a doctor who wrote in the last 24 hours
    )
    campanha_max_per_week: int
    campanha_conversation_retry_s: int


async def iniciar_envio(
    db: Executor, fila_id: int, tentativas: int, lease_s: float, maximum: int, rules: SendRules
) -> Destination | None:
    """Commit the intent to send: the row's new `status` ('enviando'; 'cancelada' for a campaign message to
    a doctor who no longer takes them or had their week's campaign messages; 'pendente' for one put off
    while the doctor is in a conversation; 'aguardando_resposta' for free text the Cloud API would refuse
    when a re-engagement template already asked the doctor to answer; 'erro' past `maximo` claims), the
    `telefone` it goes to, `primeiro_nome`, and `reengajar` (free text the Cloud API would refuse: send
    the re-engagement template instead, then aguardar_resposta); None when this claim (`tentativas`) lost
    the row."""
    destination = await db.fetchrow(
        sql("iniciar_envio"),
        fila_id,
        tentativas,
        lease_s,
        maximum,
        rules.free_text_needs_24h_window,
        rules.campanha_max_per_week,
        rules.campanha_conversation_retry_s,
    )
    return None if destination is None else Destination(**destination)


async def aguardar_resposta(
    db: Executor, fila_id: int, tentativas: int, whatsapp_id: str | None
) -> str | None:
    """The re-engagement template went in place of the row's text: the text waits for the doctor's answer.
    The row's new status ('aguardando_resposta', or 'pendente' when the doctor wrote meanwhile), None when
    attempt `tentativas` no longer holds it."""
    status: str | None = await db.fetchval(sql("aguardar_resposta"), fila_id, tentativas, whatsapp_id)
    return status


async def marcar_enviada(
    db: Executor, fila_id: int, tentativas: int, whatsapp_id: str | None
) -> SentMensagem | None:
    """Evolution accepted attempt `tentativas`: 'enviada', and a reply's interaction stamped with
    `whatsapp_id`. None when the attempt no longer holds the row."""
    row = await db.fetchrow(sql("marcar_enviada"), fila_id, tentativas, whatsapp_id)
    return None if row is None else SentMensagem(**row)


async def guardar_envio_no_historico(
    db: Executor, fila_id: int, conversa_id: int, whatsapp_id: str | None
) -> None:
    """A sent message that had no interaction (a campaign's) into conversation `conversa_id`'s history."""
    await db.execute(sql("guardar_envio_no_historico"), fila_id, conversa_id, whatsapp_id)


async def marcar_incertas(db: Executor) -> list[int]:
    """Sends whose sender died during the call made 'incerto'; their ids."""
    return [row["id"] for row in await db.fetch(sql("marcar_incertas"))]


async def contar_fila_pendente(db: Executor) -> FilaBacklog:
    return FilaBacklog(**await fetch_one(db, sql("contar_fila_pendente")))


async def contar_fila_incerta(db: Executor) -> int:
    """How many sends wait for a person ('incerto')."""
    uncertain_ones: int = await db.fetchval(sql("contar_fila_incerta"))
    return uncertain_ones


async def fila_mensagens_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: every message queued to the doctor, each row as JSON (dates as ISO text)."""
    return [r["linha"] for r in await db.fetch(sql("fila_mensagens_do_titular"), cliente_id)]
