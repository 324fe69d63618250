"""Campaigns: Júlia writing first to the doctors of a tag and/or specialty (issue 15).

`criar_campanha` is what `POST /admin/campanhas` and `julia campanha` both call. The rows are queued by
one set-based statement (julia/sql/campanhas.sql, criar_campanha): eligibility, the rate, the sending
hours in São Paulo time and the text are all applied there. A campaign is free text (`texto`, with
placeholders) or an approved template (`modelo`, julia/templates.py); on the Cloud API
(EVOLUTION_INTEGRATION=cloud-api) only the latter, since Meta refuses free text to a doctor who has
not written in 24 hours. The doctor's own window, weekends, holidays, the weekly cap and a conversation
under way are checked by the sender when each message is about to go (julia/worker/channel.py).
`relatorio` and `recent_tallies` read a campaign's progress for the admin route and for /metrics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import asdict
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from julia.data import campanhas as dados
from julia.errors import JuliaError
from julia.settings import Settings
from julia.templates import DOCTOR_FIELDS, template

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("America/Sao_Paulo")
# Below the default (5) and far below a reply to a doctor who is waiting (8, julia/worker/reply.py):
# a campaign never delays a conversation, whatever its size.
PRIORITY_CAMPANHA = 2
MARKERS = frozenset({"primeiro_nome", "especialidade"})
FOOTER = "\n\nPara não receber mais mensagens como esta, responda SAIR."
DAYS_IN_METRICS = 7  # /metrics shows campaigns of the last week; older ones are read by id
# Well inside a Prometheus scrape timeout (10 s by default): counting a 100,000-doctor campaign reads
# its rows and each doctor's last messages.
METRICS_TIMEOUT_S = 3.0
_MARKER = re.compile(r"\{([^{}]*)\}")


class InvalidCampanha(JuliaError):
    """A campaign that cannot be created as asked (the API answers 422, the CLI exits 1)."""


class NovaCampanha(BaseModel):
    """The request: the JSON body of POST /admin/campanhas, the flags of `julia campanha`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="chosen by the caller")
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    especialidade_id: int | None = Field(default=None, ge=1)
    estado: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="UF of the doctor's CRM")
    texto: str | None = Field(
        default=None, min_length=1, max_length=3000, description="{primeiro_nome}, {especialidade}"
    )
    modelo: str | None = Field(
        default=None, description="an approved template of julia/templates.py, instead of texto"
    )
    inicio: dt.datetime | None = Field(default=None, description="ISO 8601; without offset: São Paulo")
    por_minuto: int = Field(default=20, ge=1, le=1000, description="messages per minute of open time")

    @field_validator("texto")
    @classmethod
    def _known_markers(cls, texto: str | None) -> str | None:
        if texto is None:
            return None
        unknown_ones = sorted(set(_MARKER.findall(texto)) - MARKERS)
        if unknown_ones:
            known_ones = ", ".join(f"{{{m}}}" for m in sorted(MARKERS))
            findings = ", ".join(f"{{{m}}}" for m in unknown_ones)
            raise ValueError(f"unknown placeholder {findings} in texto (known: {known_ones})")
        if not texto.strip():
            raise ValueError("texto is blank")
        return texto

    @field_validator("inicio")
    @classmethod
    def _in_business_timezone(cls, inicio: dt.datetime | None) -> dt.datetime | None:
        # The people who run campaigns write Brazilian times: a time without an offset is São Paulo's.
        return inicio.replace(tzinfo=TIMEZONE) if inicio is not None and inicio.tzinfo is None else inicio

    @field_validator("modelo")
    @classmethod
    def _campanha_template(cls, modelo: str | None) -> str | None:
        if modelo is None:
            return None
        declared = template(modelo)  # UnknownTemplate (a ValueError to pydantic: see there) names the known
        foreign_ones = sorted(set(declared.parameters) - DOCTOR_FIELDS)
        if foreign_ones:
            raise ValueError(
                f"template {modelo} takes {', '.join(foreign_ones)}, which a campaign cannot fill per doctor"
            )
        return modelo

    @model_validator(mode="after")
    def _has_public(self) -> NovaCampanha:
        if self.tag is None and self.especialidade_id is None:
            raise ValueError("a campaign needs tag or especialidade_id (or both): it cannot go to everyone")
        if (self.texto is None) == (self.modelo is None):
            raise ValueError("a campaign needs texto or modelo (an approved template), not both")
        return self


class Campanha(BaseModel):
    id: str
    tag: str | None
    especialidade_id: int | None
    estado: str | None
    texto: str
    modelo: str | None
    inicio: dt.datetime
    por_minuto: int
    created_at: dt.datetime
    enfileiradas: int = Field(description="messages queued, one per eligible doctor")
    criada: bool = Field(description="false: the id existed and nothing new was queued")


class Report(BaseModel):
    """A campaign's progress: its messages by state, and what the doctors did."""

    enfileiradas: int = 0
    pendentes: int = 0
    enviadas: int = Field(default=0, description="accepted by WhatsApp (Evolution's 201)")
    entregues: int = Field(default=0, description="sent, and WhatsApp says delivered to the phone (or read)")
    lidas: int = Field(default=0, description="sent and read (only doctors with read receipts on say so)")
    nao_entregues: int = Field(default=0, description="sent, and WhatsApp says the delivery failed")
    falhas: int = Field(default=0, description="never sent: Evolution refused it, or every try failed")
    canceladas: int = Field(
        default=0, description="withheld: the doctor opted out first, or had the week's campaign messages"
    )
    respondidas: int = Field(default=0, description="doctors who wrote back after the message reached them")
    opt_out: int = Field(default=0, description="doctors of the campaign who have opted out since")


class StatusCampanha(BaseModel):
    campanha: Campanha
    relatorio: Report


async def criar_campanha(pool: asyncpg.Pool, settings: Settings, nova: NovaCampanha) -> Campanha:
    """Create the campaign and queue its messages, or answer the existing campaign of that id."""
    # A start in the past starts now: slots already gone by would all be due at once, a burst at whatever
    # rate the sender allows instead of `por_minuto`.
    if settings.evolution_integration == "cloud-api" and nova.modelo is None:
        raise InvalidCampanha(
            "EVOLUTION_INTEGRATION is cloud-api: a campaign names an approved template (modelo); Meta "
            "refuses free text to a doctor who has not written in 24 hours"
        )
    now = dt.datetime.now(TIMEZONE)
    inicio = max(nova.inicio, now) if nova.inicio is not None else now
    modelo = template(nova.modelo) if nova.modelo is not None else None
    if modelo is not None:
        # The approved body says how to stop receiving them itself (julia/templates.py, OPT_OUT).
        texto, footer = modelo.with_markers(), ""
    else:
        assert nova.texto is not None  # one of the two: the model's validator
        texto, footer = nova.texto, FOOTER
    async with pool.acquire() as conn, conn.transaction():
        try:
            linha = await dados.criar_campanha(
                conn,
                id=nova.id,
                tag=nova.tag,
                especialidade_id=nova.especialidade_id,
                estado=nova.estado,
                texto=texto,
                inicio=inicio,
                por_minuto=nova.por_minuto,
                hora_inicio=settings.campanha_hora_inicio,
                hora_fim=settings.campanha_hora_fim,
                prioridade=PRIORITY_CAMPANHA,
                footer=footer,
                modelo=nova.modelo,
                modelo_parametros=modelo.parameters if modelo is not None else (),
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise InvalidCampanha(f"especialidade_id {nova.especialidade_id} does not exist") from exc
        campanha = await dados.ler_campanha(conn, nova.id)
    assert campanha is not None  # created by this statement, or by whoever took the id first
    if linha.criada:
        log.info("campanha %s: %s doctors queued", nova.id, linha.enfileiradas)
    return Campanha(**asdict(campanha), criada=linha.criada)


async def status_campanha(pool: asyncpg.Pool, campanha_id: str) -> StatusCampanha | None:
    campanha = await dados.ler_campanha(pool, campanha_id)
    if campanha is None:
        return None
    tallies = (await dados.relatorio_campanhas(pool, [campanha_id])).get(campanha_id)
    relatorio = Report(**_without_id(tallies)) if tallies is not None else Report()
    return StatusCampanha(campanha=Campanha(**asdict(campanha), criada=False), relatorio=relatorio)


async def recent_tallies(pool: asyncpg.Pool) -> dict[str, dict[str, int]] | None:
    """The recent campaigns' counts by state (the gauge julia_campanha_mensagens), read by the worker's
    alert round for /metrics (julia.services.gauges). None, logged, when Postgres is slow or absent: the
    gauges keep the last figures."""
    try:
        async with asyncio.timeout(METRICS_TIMEOUT_S):
            ids = await dados.campanhas_recentes(pool, DAYS_IN_METRICS)
            reports = await dados.relatorio_campanhas(pool, ids) if ids else {}
    except Exception as exc:  # the rest of the round must still run
        log.warning("campaign metrics not refreshed: %s: %s", type(exc).__name__, exc)
        return None
    return {i: Report(**_without_id(reports.get(i))).model_dump() for i in ids}


def _without_id(tallies: dados.CampanhaReport | None) -> dict[str, int]:
    if tallies is None:
        return {}
    return {k: v for k, v in asdict(tallies).items() if k != "campanha_id"}
