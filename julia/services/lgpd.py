"""LGPD as operations (issue 34): a data subject's (titular's) export and erasure, and retention.

- `export`: everything julia holds about a phone, as JSON: their `clientes` row, every row of every
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
from julia.integrations import IntegrationError
from julia.integrations.chatwoot import Chatwoot
from julia.masking import mask_phones
from julia.settings import Settings

# Every table that references a doctor, and how their rows of it are read (each table's own query).
Reader = Callable[[Executor, int], Awaitable[list[dict[str, Any]]]]
TABLES: tuple[tuple[str, Reader], ...] = (
    ("conversations", conversations.conversations_do_titular),
    ("interacoes", interacoes.interacoes_do_titular),
    ("entradas", entradas.entradas_do_titular),
    ("fila_mensagens", fila_mensagens.fila_mensagens_do_titular),
    ("handoffs", handoffs.handoffs_do_titular),
    ("chamadas_ferramenta", chamadas_ferramenta.chamadas_ferramenta_do_titular),
    ("vagas", vagas.vagas_do_titular),
)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class UnknownTitular(JuliaError):
    """No doctor or lead has this phone, and it was never erased."""


def normalize_phone(texto: str) -> str:
    """The E.164 form of a phone as an operator may paste it (`+55 (11) 98765-4321`, `5511987654321`);
    JuliaError for anything else."""
    telefone = _SEPARATORS.sub("", texto)
    telefone = telefone if telefone.startswith("+") else f"+{telefone}"
    if not _E164.match(telefone):
        raise JuliaError(f"--telefone {texto!r} is not a phone number (E.164, e.g. +5511987654321)")
    return telefone


def _unknown(telefone: str) -> UnknownTitular:
    # Masked like every line julia writes: stderr of a cron job or a unit ends up in a log.
    who = mask_phones(telefone)
    return UnknownTitular(f"no doctor or lead has the phone {who}, and it was never erased")


async def export(pool: asyncpg.Pool, redis: aioredis.Redis, telefone: str) -> dict[str, Any]:
    """Everything held about `telefone`, JSON-ready. Read in one REPEATABLE READ snapshot, so the tables
    agree with each other; TitularDesconhecido when nothing is held and it was never erased."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        found = await clientes.titular_por_telefone(conn, telefone)
        erased_one = await titulares_apagados.titular_apagado(conn, telefone)
        if found is None and erased_one is None:
            raise _unknown(telefone)
        medico_id = None if found is None else found[0]
        dados: dict[str, Any] = {
            "telefone": telefone,
            "exportado_em": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "clientes": None if found is None else found[1],
        }
        for nome, read in TABLES:
            dados[nome] = [] if medico_id is None else await read(conn, medico_id)
        dados["titulares_apagados"] = None if erased_one is None else _evidence(erased_one)
    keys = await titular.titular_keys(redis, telefone, medico_id)
    dados["redis"] = await titular.export(redis, keys)
    return dados


def _evidence(erased_one: titulares_apagados.ErasedTitular) -> dict[str, str | None]:
    return {
        "apagado_em": erased_one.apagado_em.isoformat(),
        "opt_out_em": None if erased_one.opt_out_em is None else erased_one.opt_out_em.isoformat(),
    }


@dataclass
class Erasure:
    """What one erasure did: rows per table, shifts released/anonymised, Redis keys, the evidence kept."""

    telefone: str
    linhas: dict[str, int] = field(default_factory=dict)
    released_vagas: int = 0
    anonymized_vagas: int = 0
    redis_keys: int = 0
    opt_out_em: dt.datetime | None = None
    already_erased_at: dt.datetime | None = None  # set when nothing was held: erased before, at this time
    chatwoot_contact: int | None = None  # the Chatwoot contact julia had created for them
    chatwoot_pending: str | None = None  # why that contact is not deleted (a person must do it)

    def linha(self) -> str:
        """The summary, one line, the phone masked (it may be pasted into a ticket)."""
        who = mask_phones(self.telefone)
        if self.already_erased_at is not None:
            return (
                f"{who}: already erased at {self.already_erased_at.isoformat(timespec='seconds')}; nothing "
                f"held in Postgres, {self.redis_keys} Redis keys removed"
            )
        tables = ", ".join(f"{nome} {n}" for nome, n in self.linhas.items())
        optout = (
            f"opt-out since {self.opt_out_em.isoformat(timespec='seconds')} kept (hash of the phone)"
            if self.opt_out_em
            else "no opt-out to keep"
        )
        if self.chatwoot_contact is None:
            chatwoot = "no Chatwoot contact"
        elif self.chatwoot_pending is None:
            chatwoot = f"Chatwoot contact {self.chatwoot_contact} deleted"
        else:
            chatwoot = f"Chatwoot contact {self.chatwoot_contact} NOT deleted"
        return (
            f"{who}: erased {tables}; vagas: {self.released_vagas} released, {self.anonymized_vagas} "
            f"kept without the doctor; {self.redis_keys} Redis keys removed; {chatwoot}; {optout}"
        )


async def apagar(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    telefone: str,
    progress: Callable[[str], None] = lambda _: None,
    chatwoot: Chatwoot | None = None,
) -> Erasure:
    """Erase `telefone` from Postgres (one transaction), then from Redis and Chatwoot (None: not
    configured here, so a contact is left for a person: `chatwoot_pending`). TitularDesconhecido when
    nothing is held and it was never erased; idempotent otherwise."""
    done = Erasure(telefone)
    medico_id: int | None = None
    async with pool.acquire() as conn, conn.transaction():
        locked = await clientes.travar_titular(conn, telefone)
        if locked is None:
            anterior = await titulares_apagados.titular_apagado(conn, telefone)
            if anterior is None:
                raise _unknown(telefone)
            done.already_erased_at = anterior.apagado_em
        else:
            medico_id = locked.id
            done.opt_out_em = locked.opt_out_em
            done.chatwoot_contact = locked.chatwoot_contact_id
            progress(f"erasing doctor {medico_id} ({mask_phones(telefone)}) in one transaction")
            done.linhas["clientes"] = 1
            for nome, read in TABLES:
                if nome != "vagas":  # not erased: unlinked, counted below
                    done.linhas[nome] = len(await read(conn, medico_id))
            done.released_vagas, done.anonymized_vagas = await vagas.anonimizar_vagas_do_titular(
                conn, medico_id
            )
            await titulares_apagados.registrar_titular_apagado(conn, telefone, done.opt_out_em)
            await clientes.apagar_titular(conn, medico_id)
    progress("Postgres committed; removing Redis keys")
    done.redis_keys = await titular.apagar(redis, await titular.titular_keys(redis, telefone, medico_id))
    if done.chatwoot_contact is not None:
        done.chatwoot_pending = await _erase_in_chatwoot(chatwoot, done.chatwoot_contact)
    return done


async def _erase_in_chatwoot(chatwoot: Chatwoot | None, contact_id: int) -> str | None:
    """None when the contact is gone; else why not."""
    if chatwoot is None:
        return "CHATWOOT_* not set for this command"
    try:
        await chatwoot.delete_contact(contact_id)
    except IntegrationError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Retention:
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
    stop: asyncio.Event | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Retention:
    """One retention pass: batches until a batch finds less than a full one (or `parar` is set)."""
    batch = settings.lgpd_retencao_lote

    async def in_batches(nome: str, step: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while stop is None or not stop.is_set():
            done_ones = await step()
            total += done_ones
            if done_ones:
                progress(f"{nome}: {total} deleted so far")
            if done_ones < batch:
                break
        return total

    leads = await in_batches(
        "leads",
        lambda: clientes.apagar_leads_sem_qualificacao(pool, settings.lgpd_retencao_leads_dias, batch),
    )
    messages = await in_batches(
        "interacoes",
        lambda: interacoes.apagar_interacoes_antigas(pool, settings.lgpd_retencao_interacoes_dias, batch),
    )
    entregas = await in_batches(
        "recibos",
        lambda: recibos.apagar_recibos_antigos(pool, settings.recibos_retencao_dias, batch),
    )
    return Retention(leads, messages, entregas)
