"""Key names, and the generation tokens that invalidate them without ever listing keys.

Why generations and not `KEYS`/`SCAN` + `DEL`: `KEYS pattern` walks the whole keyspace in one blocking
command (O(keys): with a million cached doctors it stalls every other client for the duration), and SCAN
is a slow multi-round-trip walk that can still miss keys written during it. Instead every cached value
belongs to a namespace with a generation key; the value is stored together with the generation it was
loaded under, and a read trusts it only when that still equals the namespace's current generation.
Invalidating a namespace is then one `SET` of a fresh generation, O(1) however many keys it covers
(every limit of a specialty's shift list, say); the dead entries simply expire by their TTL.

The generation travels inside the value, not in the key name, so a hit is ONE round trip (`MGET
generation, value`) instead of "GET generation, then GET key". Both keys of a namespace share a hash tag
(`{...}`), so the MGET stays legal on a Redis Cluster.

A generation is a fresh random token, not an `INCR` counter, and no value is ever stored without one (a
loader that finds no generation key creates it with the value it loaded, `SET NX` in the value's round
trip, so a writer's bump while it read Postgres wins and that value is never served). So whatever makes a
generation key disappear (its TTL, which keeps a million doctors' generations from living forever;
eviction under maxmemory; a restart), every value stored under it just stops matching and is reloaded.
A counter that vanished and restarted at 1 could instead match an old entry still alive under that number.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

# Bump the version when the stored format changes: old processes' entries are then never read.
PREFIX = "julia:c1"
SEPARATOR = b"|"  # between a value's generation and its JSON; tokens are hex, so never inside one


@dataclass(frozen=True, slots=True)
class Key:
    """Where a value lives and which generation key governs it."""

    valor: str
    generation: str


def _namespace(tag: str) -> str:
    return f"{PREFIX}:{{{tag}}}"


def _generation(tag: str) -> str:
    return f"{_namespace(tag)}:gen"


def phone_generation(telefone: str) -> str:
    return _generation(f"tel:{telefone}")


def medico_generation(medico_id: int) -> str:
    """One generation per doctor id governs both the doctor-by-id entry and its static context."""
    return _generation(f"medico:{medico_id}")


def vagas_generation(especialidade_id: int) -> str:
    """One generation per specialty governs every (date, limit) list of its open shifts."""
    return _generation(f"vagas:{especialidade_id}")


def generations_pattern(space: str) -> str:
    """SCAN MATCH pattern of every generation key of one kind of namespace ("medico", "tel", "vagas")."""
    return f"{PREFIX}:{{{space}:*}}:gen"


def medico_by_phone(telefone: str) -> Key:
    return Key(f"{_namespace(f'tel:{telefone}')}:medico", phone_generation(telefone))


def medico_by_id(medico_id: int) -> Key:
    return Key(f"{_namespace(f'medico:{medico_id}')}:medico", medico_generation(medico_id))


def context(medico_id: int) -> Key:
    return Key(f"{_namespace(f'medico:{medico_id}')}:contexto", medico_generation(medico_id))


def vagas(
    especialidade_id: int,
    desde: dt.date,
    limit: int,
    *,
    estado: str | None = None,
    cidade: str | None = None,
) -> Key:
    # The date is part of the key: after midnight "open shifts from today" is another list. A state or a
    # city filter makes another list too, under the same specialty generation (one bump forgets them all).
    criteria = "".join(f":{k}={v}" for k, v in (("uf", estado), ("cidade", cidade)) if v is not None)
    return Key(
        f"{_namespace(f'vagas:{especialidade_id}')}:{desde.isoformat()}:{limit}{criteria}",
        vagas_generation(especialidade_id),
    )


def new_generation() -> bytes:
    return secrets.token_hex(8).encode()


# Every other key julia keeps in Redis, named here beside the cache's so that one file lists them all (the
# business's words, as CONTRIBUTING.md asks); each is read and written by the one module named beside it.
SENDING_STOP = "julia:envio:pausado"  # the stop of sending and its causes (julia/services/pause.py)
GAUGES = "julia:metricas:gauges"  # the worker's last queue and campaign counts (julia/services/gauges.py)
BUDGET = "julia:orcamento"  # Claude's daily token budgets, `:<date>[:cliente:<id>]` (services/orcamento.py)
INBOUND_PER_MINUTE = "julia:limite:minuto"  # a doctor's messages per minute (julia/services/limits.py)
INBOUND_PER_DAY = "julia:limite:dia"  # ... and per day (julia/services/limits.py)
ALERTS = "julia:alertas"  # the alerts' shared state across processes (julia/alerts.py)


def send_rate(instance: str) -> str:
    """The GCRA buckets of one Evolution instance, `:resposta` and `:campanha` (julia/worker/rate.py)."""
    return f"julia:evolution:gcra:{instance}"


def campaign_quota(instance: str) -> str:
    """One instance's hourly and daily counts of unsolicited messages (julia/worker/quota.py)."""
    return f"julia:evolution:cota:{instance}"
