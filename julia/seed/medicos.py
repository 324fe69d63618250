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
MOTIVOS = (
    "Médico pediu para falar com uma pessoa",
    "Negociação de valor fora da tabela",
    "Reclamação sobre pagamento",
    "Dúvida sobre documentação do hospital",
    "Sentimento negativo detectado",
)
# Share of doctors with an active conversation is 30%: only 'ativo' and 'novo' doctors (80%) are talked to.
P_ATIVA = 0.30 / 0.80
P_ENCERRADAS = 0.16  # doctors already known (not 'novo') with past, closed conversations
P_HUMANO = 0.04  # conversations a person took over (a handoff)


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
    nomes_periodo = [p.nome for p in ref.periodos]
    # CRMs are numbered per state in registration order: each state's counter starts somewhere plausible.
    crm = {uf: rng.randint(20_000, 120_000) for uf in sorted({d.estado for d in ref.ddds})}
    # A multiplier coprime with 10**7 makes i -> suffix a bijection: phones are unique without a lookup set.
    offset = rng.randrange(10**7)
    base = plan.base
    for i in range(1, plan.doctors + 1):
        ddd = ddds.pick(rng)
        telefone = f"+55{ddd.ddd}9{rng.randint(6, 9)}{(i * 7_368_787 + offset) % 10**7:07d}"
        crm[ddd.estado] += rng.randint(1, 2)
        sobrenome = rng.choice(ref.sobrenomes)
        if rng.random() < 0.55:
            sobrenome = f"{sobrenome} {rng.choice(ref.sobrenomes)}"
        esp = especialidade.pick(rng)
        situacao = status.pick(rng)
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
            preferencias = _preferencias(
                tuple(rng.sample(nomes_periodo, rng.randint(1, 2))),
                rng.randrange(800, 2_001, 100),
                rng.choice((10, 20, 50, 100)),
            )
        idade = rng.uniform(DAY, 900 * DAY)
        numero_crm = f"CRM/{ddd.estado} {crm[ddd.estado]}"
        yield (
            i,
            telefone,
            rng.choice(ref.primeiros_nomes),
            sobrenome,
            numero_crm,
            esp,
            situacao,
            tags,
            preferencias,
            base - dt.timedelta(seconds=idade),
            base - dt.timedelta(seconds=idade * rng.random()),
        )
        _conversas(conv_rng, base, i, situacao, out)


@functools.cache
def _preferencias(periodos: tuple[str, ...], valor_minimo: int, raio_km: int) -> str:
    """JSON text of a doctor's preferences: a few hundred combinations, encoded once each."""
    return json.dumps(
        {"periodos": list(periodos), "valor_minimo": valor_minimo, "raio_km": raio_km}, ensure_ascii=False
    )


def _conversation(
    rows: list[Row],
    cliente_id: int,
    status: str,
    humano: bool,
    created_at: dt.datetime,
    updated_at: dt.datetime,
    encerrada_em: dt.datetime | None,
) -> int:
    """Append one conversations row (generate.py's columns, in order) and return its id."""
    cid = len(rows) + 1
    controlled_by = "humano" if humano else "julia"
    rows.append((cid, cliente_id, status, controlled_by, 10_000 + cid, created_at, updated_at, encerrada_em))
    return cid


def _conversas(rng: random.Random, base: dt.datetime, cliente_id: int, situacao: str, out: Conversas) -> None:
    """0-2 closed conversations months ago, then maybe one active one started in the last 30 days."""
    conversations, handoffs = out.conversations, out.handoffs
    if situacao != "novo" and rng.random() < P_ENCERRADAS:
        idades = [rng.uniform(31 * DAY, 180 * DAY)]
        if rng.random() < 0.25:
            idades.insert(0, rng.uniform(200 * DAY, 365 * DAY))  # older first: ids follow time
        for idade in idades:
            inicio = base - dt.timedelta(seconds=idade)
            duracao = rng.uniform(2 * 3600, 10 * DAY)
            fim = inicio + dt.timedelta(seconds=duracao)
            humano = rng.random() < P_HUMANO
            cid = _conversation(conversations, cliente_id, "encerrada", humano, inicio, fim, fim)
            if humano:  # a person took over at 60% of it (expand.py switches the senders there) and closed it
                pedido = inicio + dt.timedelta(seconds=0.59 * duracao)
                handoffs.append(
                    (len(handoffs) + 1, cid, cliente_id, rng.choice(MOTIVOS), "resolvido", pedido, fim, fim)
                )
    if situacao in ("ativo", "novo") and rng.random() < P_ATIVA:
        idade = rng.uniform(600.0, 30 * DAY)
        inicio = base - dt.timedelta(seconds=idade)
        humano = rng.random() < P_HUMANO
        updated_at = base - dt.timedelta(seconds=0.01 * idade * rng.random())
        cid = _conversation(conversations, cliente_id, "ativa", humano, inicio, updated_at, None)
        if humano:
            pedido = inicio + dt.timedelta(seconds=0.59 * idade)
            atendido = rng.random() < 0.5
            handoffs.append(
                (
                    len(handoffs) + 1,
                    cid,
                    cliente_id,
                    rng.choice(MOTIVOS),
                    "em_atendimento" if atendido else "pendente",
                    pedido,
                    pedido + dt.timedelta(minutes=7) if atendido else pedido,
                    None,
                )
            )
