"""Doctors, and the conversations and handoffs each one has: drawn together, streamed to COPY as drawn."""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from julia.seed.generate import DAY, Plan, Row, Weighted
from julia.seed.reference import Reference

STATUS_MEDICO = (("ativo", 55), ("novo", 25), ("inativo", 12), ("opt_out", 6), ("bloqueado", 2))
REASONS = (
    "Médico pediu para falar com uma pessoa",
    "Negociação de valor fora da tabela",
    "Reclamação sobre pagamento",
    "Dúvida sobre documentação do hospital",
    "Sentimento negativo detectado",
)
# Share of doctors with an active conversation is 30%: only 'ativo' and 'novo' doctors (80%) are talked to.
P_ACTIVE = 0.30 / 0.80
P_CLOSED = 0.16  # doctors already known (not 'novo') with past, closed conversations
P_HUMAN = 0.04  # conversations a person took over (a handoff)


@dataclass
class Conversas:
    """Filled while the doctors stream to COPY: conversations and handoffs depend on each doctor drawn."""

    conversations: list[Row]
    handoffs: list[Row]


def clientes(plan: Plan, ref: Reference, out: Conversas) -> Iterator[Row]:
    rng, conv_rng = plan.rng("clientes"), plan.rng("conversations")
    ddds = Weighted(ref.ddds, [d.peso for d in ref.ddds])
    ids_especialidade = range(1, len(ref.especialidades) + 1)
    especialidade = Weighted(ids_especialidade, [e.peso_medicos for e in ref.especialidades])
    status = Weighted([s for s, _ in STATUS_MEDICO], [w for _, w in STATUS_MEDICO])
    tags_esp = [""] + [e.tag for e in ref.especialidades]
    period_names = [p.nome for p in ref.periodos]
    # CRMs are numbered per state in registration order: each state's counter starts somewhere plausible.
    crm = {uf: rng.randint(20_000, 120_000) for uf in sorted({d.estado for d in ref.ddds})}
    # A multiplier coprime with 10**7 makes i -> suffix a bijection: phones are unique without a lookup set.
    offset = rng.randrange(10**7)
    base = plan.base
    for i in range(1, plan.doctors + 1):
        ddd = ddds.pick(rng)
        telefone = f"+55{ddd.ddd}9{rng.randint(6, 9)}{(i * 7_368_787 + offset) % 10**7:07d}"
        crm[ddd.estado] += rng.randint(1, 2)
        sobrenome = rng.choice(ref.surnames)
        if rng.random() < 0.55:
            sobrenome = f"{sobrenome} {rng.choice(ref.surnames)}"
        esp = especialidade.pick(rng)
        situation = status.pick(rng)
        tags = []
        if rng.random() < 0.75:
            tags.append(tags_esp[esp])
        if rng.random() < 0.45:
            tags.append("plantonista")
        if rng.random() < 0.85:
            tags.append(f"{ddd.estado.lower()}-{'capital' if ddd.capital else 'interior'}")
        if rng.random() < 0.20:
            tags.append("noturno")
        if rng.random() < 0.15:
            tags.append("fim-de-semana")
        if rng.random() < 0.03:
            tags.append("vip")
        preferencias = "{}"
        if rng.random() < 0.5:
            preferencias = _preferences(
                tuple(rng.sample(period_names, rng.randint(1, 2))),
                rng.randrange(800, 2_001, 100),
                rng.choice((10, 20, 50, 100)),
            )
        age = rng.uniform(DAY, 900 * DAY)
        crm_number = f"CRM/{ddd.estado} {crm[ddd.estado]}"
        yield (
            i,
            telefone,
            rng.choice(ref.first_names),
            sobrenome,
            crm_number,
            esp,
            situation,
            tags,
            preferencias,
            base - dt.timedelta(seconds=age),
            base - dt.timedelta(seconds=age * rng.random()),
        )
        _conversas(conv_rng, base, i, situation, out)


@functools.cache
def _preferences(periodos: tuple[str, ...], min_value: int, radius_km: int) -> str:
    """JSON text of a doctor's preferences: a few hundred combinations, encoded once each."""
    return json.dumps(
        {"periodos": list(periodos), "valor_minimo": min_value, "raio_km": radius_km}, ensure_ascii=False
    )


def _conversation(
    rows: list[Row],
    cliente_id: int,
    status: str,
    human: bool,
    created_at: dt.datetime,
    updated_at: dt.datetime,
    encerrada_em: dt.datetime | None,
) -> int:
    """Append one conversations row (generate.py's columns, in order) and return its id."""
    cid = len(rows) + 1
    controlled_by = "humano" if human else "julia"
    rows.append((cid, cliente_id, status, controlled_by, 10_000 + cid, created_at, updated_at, encerrada_em))
    return cid


def _conversas(
    rng: random.Random, base: dt.datetime, cliente_id: int, situation: str, out: Conversas
) -> None:
    """0-2 closed conversations months ago, then maybe one active one started in the last 30 days."""
    conversations, handoffs = out.conversations, out.handoffs
    if situation != "novo" and rng.random() < P_CLOSED:
        ages = [rng.uniform(31 * DAY, 180 * DAY)]
        if rng.random() < 0.25:
            ages.insert(0, rng.uniform(200 * DAY, 365 * DAY))  # older first: ids follow time
        for age in ages:
            inicio = base - dt.timedelta(seconds=age)
            duration = rng.uniform(2 * 3600, 10 * DAY)
            end = inicio + dt.timedelta(seconds=duration)
            human = rng.random() < P_HUMAN
            cid = _conversation(conversations, cliente_id, "encerrada", human, inicio, end, end)
            if human:  # a person took over at 60% of it (expand.py switches the senders there) and closed it
                pedido = inicio + dt.timedelta(seconds=0.59 * duration)
                handoffs.append(
                    (len(handoffs) + 1, cid, cliente_id, rng.choice(REASONS), "resolvido", pedido, end, end)
                )
    if situation in ("ativo", "novo") and rng.random() < P_ACTIVE:
        age = rng.uniform(600.0, 30 * DAY)
        inicio = base - dt.timedelta(seconds=age)
        human = rng.random() < P_HUMAN
        updated_at = base - dt.timedelta(seconds=0.01 * age * rng.random())
        cid = _conversation(conversations, cliente_id, "ativa", human, inicio, updated_at, None)
        if human:
            pedido = inicio + dt.timedelta(seconds=0.59 * age)
            answered = rng.random() < 0.5
            handoffs.append(
                (
                    len(handoffs) + 1,
                    cid,
                    cliente_id,
                    rng.choice(REASONS),
                    "em_atendimento" if answered else "pendente",
                    pedido,
                    pedido + dt.timedelta(minutes=7) if answered else pedido,
                    None,
                )
            )
