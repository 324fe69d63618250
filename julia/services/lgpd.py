"""LGPD as operations (issue 34): a data subject's (titular's) export and erasure, and retention.

- `exportar`: everything julia holds about a phone, as JSON: their `clientes` row, every row of every
  table that references them, the erasure evidence if the number was erased before, and their Redis keys.
- `apagar`: in ONE transaction, their shifts unlinked (julia/sql/vagas.sql), the evidence recorded
  (titulares_apagados: a hash of the phone and the opt-out date, migrations/0010 says why the law allows
  it) and their `clientes` row deleted, which cascades to every table of their conversations. Then, after
  the commit, their Redis keys (julia/cache/titular.py): before it, a reader could still load the old row
  and cache it again; and their Chatwoot contact with its conversations, when julia created one (a
  failure there is reported with the contact's id, for a person to delete it: the id is gone from
  Postgres by then). Erasing a number already erased changes nothing and says when it was done.
- `reter`: the retention pass, in batches of LGPD_RETENCAO_LOTE, each its own transaction: leads that
  never qualified idle for LGPD_RETENCAO_LEADS_DIAS, messages older than LGPD_RETENCAO_INTERACOES_DIAS.
  Run by every worker each LGPD_RETENCAO_INTERVALO_S (a policy nobody has to remember to schedule is the
  one that holds) and on demand by `julia lgpd reter`. Their Redis entries are not swept: nothing cached
  outlives its TTL (minutes), and these rows were idle for months.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from julia.cache import titular
from julia.data import (
    Executor,
    chamadas_ferramenta,
    clientes,
    conversations,
    entradas,
    fila_mensagens,
    handoffs,
    interacoes,
    recibos,
    titulares_apagados,
    vagas,
)
from julia.errors import JuliaError
from julia.integrations import IntegracaoError
from julia.integrations.chatwoot import Chatwoot
from julia.mascara import mascarar_telefones
from julia.settings import Settings

# Every table that references a doctor, and how their rows of it are read (each table's own query).
Leitor = Callable[[Executor, int], Awaitable[list[dict[str, Any]]]]
TABELAS: tuple[tuple[str, Leitor], ...] = (
    ("conversations", conversations.conversations_do_titular),
    ("interacoes", interacoes.interacoes_do_titular),
    ("entradas", entradas.entradas_do_titular),
    ("fila_mensagens", fila_mensagens.fila_mensagens_do_titular),
    ("handoffs", handoffs.handoffs_do_titular),
    ("chamadas_ferramenta", chamadas_ferramenta.chamadas_ferramenta_do_titular),
    ("vagas", vagas.vagas_do_titular),
)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_SEPARADORES = re.compile(r"[\s().-]")


class TitularDesconhecido(JuliaError):
    """No doctor or lead has this phone, and it was never erased."""


def normalizar_telefone(texto: str) -> str:
    """The E.164 form of a phone as an operator may paste it (`+55 (11) 98765-4321`, `5511987654321`);
    JuliaError for anything else."""
    telefone = _SEPARADORES.sub("", texto)
    telefone = telefone if telefone.startswith("+") else f"+{telefone}"
    if not _E164.match(telefone):
        raise JuliaError(f"--telefone {texto!r} is not a phone number (E.164, e.g. +5511987654321)")
    return telefone


def _desconhecido(telefone: str) -> TitularDesconhecido:
    # Masked like every line julia writes: stderr of a cron job or a unit ends up in a log.
    quem = mascarar_telefones(telefone)
    return TitularDesconhecido(f"no doctor or lead has the phone {quem}, and it was never erased")


async def exportar(pool: asyncpg.Pool, redis: aioredis.Redis, telefone: str) -> dict[str, Any]:
    """Everything held about `telefone`, JSON-ready. Read in one REPEATABLE READ snapshot, so the tables
    agree with each other; TitularDesconhecido when nothing is held and it was never erased."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        achado = await clientes.titular_por_telefone(conn, telefone)
        apagado = await titulares_apagados.titular_apagado(conn, telefone)
        if achado is None and apagado is None:
            raise _desconhecido(telefone)
        medico_id = None if achado is None else achado[0]
        dados: dict[str, Any] = {
            "telefone": telefone,
            "exportado_em": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "clientes": None if achado is None else achado[1],
        }
        for nome, ler in TABELAS:
            dados[nome] = [] if medico_id is None else await ler(conn, medico_id)
        dados["titulares_apagados"] = None if apagado is None else _evidencia(apagado)
    chaves = await titular.chaves_do_titular(redis, telefone, medico_id)
    dados["redis"] = await titular.exportar(redis, chaves)
    return dados


def _evidencia(apagado: titulares_apagados.ErasedTitular) -> dict[str, str | None]:
    return {
        "apagado_em": apagado.apagado_em.isoformat(),
        "opt_out_em": None if apagado.opt_out_em is None else apagado.opt_out_em.isoformat(),
    }


@dataclass
class Apagamento:
    """What one erasure did: rows per table, shifts released/anonymised, Redis keys, the evidence kept."""

    telefone: str
    linhas: dict[str, int] = field(default_factory=dict)
    vagas_liberadas: int = 0
    vagas_anonimizadas: int = 0
    chaves_redis: int = 0
    opt_out_em: dt.datetime | None = None
    ja_apagado_em: dt.datetime | None = None  # set when nothing was held: erased before, at this time
    chatwoot_contato: int | None = None  # the Chatwoot contact julia had created for them
    chatwoot_pendente: str | None = None  # why that contact is not deleted (a person must do it)

    def linha(self) -> str:
        """The summary, one line, the phone masked (it may be pasted into a ticket)."""
        quem = mascarar_telefones(self.telefone)
        if self.ja_apagado_em is not None:
            return (
                f"{quem}: already erased at {self.ja_apagado_em.isoformat(timespec='seconds')}; nothing "
                f"held in Postgres, {self.chaves_redis} Redis keys removed"
            )
        tabelas = ", ".join(f"{nome} {n}" for nome, n in self.linhas.items())
        optout = (
            f"opt-out since {self.opt_out_em.isoformat(timespec='seconds')} kept (hash of the phone)"
            if self.opt_out_em
            else "no opt-out to keep"
        )
        if self.chatwoot_contato is None:
            chatwoot = "no Chatwoot contact"
        elif self.chatwoot_pendente is None:
            chatwoot = f"Chatwoot contact {self.chatwoot_contato} deleted"
        else:
            chatwoot = f"Chatwoot contact {self.chatwoot_contato} NOT deleted"
        return (
            f"{quem}: erased {tabelas}; vagas: {self.vagas_liberadas} released, {self.vagas_anonimizadas} "
            f"kept without the doctor; {self.chaves_redis} Redis keys removed; {chatwoot}; {optout}"
        )


async def apagar(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    telefone: str,
    progresso: Callable[[str], None] = lambda _: None,
    chatwoot: Chatwoot | None = None,
) -> Apagamento:
    """Erase `telefone` from Postgres (one transaction), then from Redis and Chatwoot (None: not
    configured here, so a contact is left for a person: `chatwoot_pendente`). TitularDesconhecido when
    nothing is held and it was never erased; idempotent otherwise."""
    feito = Apagamento(telefone)
    medico_id: int | None = None
    async with pool.acquire() as conn, conn.transaction():
        travado = await clientes.travar_titular(conn, telefone)
        if travado is None:
            anterior = await titulares_apagados.titular_apagado(conn, telefone)
            if anterior is None:
                raise _desconhecido(telefone)
            feito.ja_apagado_em = anterior.apagado_em
        else:
            medico_id = travado.id
            feito.opt_out_em = travado.opt_out_em
            feito.chatwoot_contato = travado.chatwoot_contact_id
            progresso(f"erasing doctor {medico_id} ({mascarar_telefones(telefone)}) in one transaction")
            feito.linhas["clientes"] = 1
            for nome, ler in TABELAS:
                if nome != "vagas":  # not erased: unlinked, counted below
                    feito.linhas[nome] = len(await ler(conn, medico_id))
            feito.vagas_liberadas, feito.vagas_anonimizadas = await vagas.anonimizar_vagas_do_titular(
                conn, medico_id
            )
            await titulares_apagados.registrar_titular_apagado(conn, telefone, feito.opt_out_em)
            await clientes.apagar_titular(conn, medico_id)
    progresso("Postgres committed; removing Redis keys")
    feito.chaves_redis = await titular.apagar(
        redis, await titular.chaves_do_titular(redis, telefone, medico_id)
    )
    if feito.chatwoot_contato is not None:
        feito.chatwoot_pendente = await _apagar_no_chatwoot(chatwoot, feito.chatwoot_contato)
    return feito


async def _apagar_no_chatwoot(chatwoot: Chatwoot | None, contato_id: int) -> str | None:
    """None when the contact is gone; else why not."""
    if chatwoot is None:
        return "CHATWOOT_* not set for this command"
    try:
        await chatwoot.apagar_contato(contato_id)
    except IntegracaoError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Retencao:
    """What one retention pass deleted."""

    leads: int
    interacoes: int
    recibos: int

    @property
    def total(self) -> int:
        return self.leads + self.interacoes + self.recibos

    def linha(self) -> str:
        return (
            f"retention: {self.leads} leads, {self.interacoes} messages and {self.recibos} delivery "
            "receipts deleted"
        )


async def reter(
    pool: asyncpg.Pool,
    settings: Settings,
    parar: asyncio.Event | None = None,
    progresso: Callable[[str], None] = lambda _: None,
) -> Retencao:
    """One retention pass: batches until a batch finds less than a full one (or `parar` is set)."""
    lote = settings.lgpd_retencao_lote

    async def em_lotes(nome: str, passo: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while parar is None or not parar.is_set():
            feitas = await passo()
            total += feitas
            if feitas:
                progresso(f"{nome}: {total} deleted so far")
            if feitas < lote:
                break
        return total

    leads = await em_lotes(
        "leads",
        lambda: clientes.apagar_leads_sem_qualificacao(pool, settings.lgpd_retencao_leads_dias, lote),
    )
    mensagens = await em_lotes(
        "interacoes",
        lambda: interacoes.apagar_interacoes_antigas(pool, settings.lgpd_retencao_interacoes_dias, lote),
    )
    entregas = await em_lotes(
        "recibos",
        lambda: recibos.apagar_recibos_antigos(pool, settings.recibos_retencao_dias, lote),
    )
    return Retencao(leads, mensagens, entregas)
