"""The rows Python decides and COPY loads: reference tables, hospitals, shifts (doctors, their conversations
and handoffs: medicos.py). Interactions and the queue, the big tables, are expanded in Postgres (expand.py).

Every table draws from its own `random.Random` stream seeded with (seed, table name), so the same plan
gives the same rows byte for byte, and changing how one table is drawn does not shift the others.
Times are offsets from `Plan.base` (midnight UTC of `today`), never from the wall clock.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from julia.seed.reference import Reference

T = TypeVar("T")
Row = tuple[Any, ...]
DAY = 86_400.0
MAX_DOCTORS = 10_000_000  # phone suffixes are a bijection of the doctor's number below 10**7

# Column lists, in the order the generators below fill each tuple.
COLUMNS: dict[str, tuple[str, ...]] = {
    "especialidades": ("id", "nome"),
    "periodos": ("id", "nome", "hora_inicio", "hora_fim"),
    "hospitais": ("id", "nome", "cidade", "estado"),
    "clientes": (
        "id",
        "telefone",
        "primeiro_nome",
        "sobrenome",
        "crm",
        "especialidade_id",
        "status",
        "tags",
        "preferencias",
        "created_at",
        "updated_at",
    ),
    "conversations": (
        "id",
        "cliente_id",
        "status",
        "controlled_by",
        "chatwoot_conversation_id",
        "created_at",
        "updated_at",
        "encerrada_em",
    ),
    "handoffs": (
        "id",
        "conversa_id",
        "cliente_id",
        "motivo",
        "status",
        "created_at",
        "updated_at",
        "resolvido_em",
    ),
    "vagas": (
        "id",
        "hospital_id",
        "especialidade_id",
        "periodo_id",
        "data_plantao",
        "valor",
        "status",
        "created_at",
        "updated_at",
        "cliente_id",
        "reservada_em",
    ),
}

FUTURE_VAGA_STATUS = (("aberta", 72), ("reservada", 10), ("preenchida", 14), ("cancelada", 4))
PAST_VAGA_STATUS = (("preenchida", 75), ("cancelada", 10), ("aberta", 15))  # expired, never taken


class Weighted(Generic[T]):
    """Weighted choice with one `random()` call and a bisect (rng.choices is several times slower)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


@dataclass(frozen=True)
class Plan:
    doctors: int
    seed: int
    today: dt.date

    @property
    def base(self) -> dt.datetime:
        return dt.datetime.combine(self.today, dt.time(), tzinfo=dt.UTC)

    @property
    def hospitais(self) -> int:
        return max(20, self.doctors // 50)

    @property
    def vagas(self) -> int:
        return max(2_000, self.doctors // 2)

    def rng(self, stream: str) -> random.Random:
        return random.Random(f"julia-seed:{self.seed}:{stream}")  # str seeds are hashed with sha512: stable


def especialidades(ref: Reference) -> list[Row]:
    return [(i, e.nome) for i, e in enumerate(ref.especialidades, 1)]


def periodos(ref: Reference) -> list[Row]:
    return [(i, p.nome, p.hora_inicio, p.hora_fim) for i, p in enumerate(ref.periodos, 1)]


def hospitais(plan: Plan, ref: Reference) -> list[Row]:
    """Hospitals in real cities, as many per city as its weight says; a repeated name gets a unit number."""
    rng = plan.rng("hospitais")
    cities = Weighted(ref.ddds, [d.peso for d in ref.ddds])
    seen: dict[tuple[str, str], int] = {}
    rows: list[Row] = []
    for i in range(1, plan.hospitais + 1):
        cidade = cities.pick(rng)
        nome = rng.choice(ref.hospital_templates).format(cidade=cidade.cidade)
        repeats = seen[(nome, cidade.cidade)] = seen.get((nome, cidade.cidade), 0) + 1
        if repeats > 1:
            nome = f"{nome} – Unidade {repeats}"
        rows.append((i, nome, cidade.cidade, cidade.estado))
    return rows


def vagas(plan: Plan, ref: Reference, medicos: Mapping[int, Sequence[int]]) -> Iterator[Row]:
    """Shifts over the next 90 days (and some of the last 30, mostly filled), priced by length and hour.

    A reserved or filled shift is held by a doctor of its specialty (`medicos`: specialty -> doctor ids),
    reserved some time between its creation and its day; a specialty without doctors leaves it open.
    The holders come from their own stream, so the other columns are the ones drawn before holders existed.
    """
    rng = plan.rng("vagas")
    rng_medico = plan.rng("vagas_medico")
    ids_especialidade = range(1, len(ref.especialidades) + 1)
    especialidade = Weighted(ids_especialidade, [e.peso_vagas for e in ref.especialidades])
    periodo = Weighted(range(1, len(ref.periodos) + 1), [p.peso for p in ref.periodos])
    future = Weighted([s for s, _ in FUTURE_VAGA_STATUS], [w for _, w in FUTURE_VAGA_STATUS])
    past = Weighted([s for s, _ in PAST_VAGA_STATUS], [w for _, w in PAST_VAGA_STATUS])
    for i in range(1, plan.vagas + 1):
        if rng.random() < 0.1:
            day = plan.today - dt.timedelta(days=rng.randint(1, 30))
            status = past.pick(rng)
        else:
            day = plan.today + dt.timedelta(days=rng.randint(0, 89))
            status = future.pick(rng)
        pid = periodo.pick(rng)
        p = ref.periodos[pid - 1]
        # R$ 110-160 an hour, +20% at night, +15% on weekends; rounded to R$ 50 like a real offer.
        hour = (
            rng.uniform(110, 160) * (1.2 if p.overnight_one else 1.0) * (1.15 if day.weekday() >= 5 else 1.0)
        )
        valor = min(3_500, max(800, round(hour * p.horas / 50) * 50))
        criada = dt.datetime.combine(min(day, plan.today), dt.time(), tzinfo=dt.UTC) - dt.timedelta(
            seconds=rng.uniform(DAY, 20 * DAY)
        )
        hospital, esp = rng.randint(1, plan.hospitais), especialidade.pick(rng)
        medico: int | None = None
        reservada: dt.datetime | None = None
        if status in ("reservada", "preenchida"):
            candidates = medicos.get(esp)
            if candidates:
                medico = rng_medico.choice(candidates)
                inicio = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
                reservada = criada + (inicio - criada) * rng_medico.random()
            else:
                status = "aberta"
        yield (i, hospital, esp, pid, day, Decimal(valor), status, criada, criada, medico, reservada)
