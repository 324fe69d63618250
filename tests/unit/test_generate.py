"""The Python half of the seed, without a database: deterministic streams, unique phones, sane values."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from julia.seed import generate, medicos
from julia.seed.generate import Plan, Weighted
from julia.seed.medicos import Conversas
from julia.seed.reference import load_reference

TODAY = dt.date(2026, 3, 2)


def _clientes(plan: Plan) -> tuple[list[generate.Row], Conversas]:
    out = Conversas([], [])
    return list(medicos.clientes(plan, load_reference(), out)), out


# Two doctors per specialty (ids 1..110), as the seeder's seed_medicos_por_especialidade would answer.
MEDICOS = {esp: [2 * esp - 1, 2 * esp] for esp in range(1, 56)}


def test_the_same_plan_draws_the_same_rows_and_another_seed_others() -> None:
    first, conversas = _clientes(Plan(500, 42, TODAY))
    again, conversas_again = _clientes(Plan(500, 42, TODAY))
    other, _ = _clientes(Plan(500, 43, TODAY))
    assert first == again
    assert conversas == conversas_again
    assert first != other
    assert list(generate.vagas(Plan(500, 42, TODAY), load_reference(), MEDICOS)) == list(
        generate.vagas(Plan(500, 42, TODAY), load_reference(), MEDICOS)
    )


def test_phones_are_unique_without_a_lookup_set() -> None:
    rows, _ = _clientes(Plan(50_000, 1, TODAY))
    phones = [r[1] for r in rows]
    assert len(set(phones)) == len(phones)
    assert all(len(p) == 14 and p.startswith("+55") and p[5] == "9" for p in phones)


def test_conversations_follow_doctors_and_time() -> None:
    _, out = _clientes(Plan(2_000, 42, TODAY))
    base = Plan(2_000, 42, TODAY).base
    active = Counter(c[1] for c in out.conversations if c[2] == "ativa")
    assert max(active.values()) == 1
    assert [c[0] for c in out.conversations] == list(range(1, len(out.conversations) + 1))
    for _id, _cliente, status, _by, _chatwoot, inicio, _updated, end in out.conversations:
        assert inicio < base
        assert (end is None) == (status == "ativa")
        assert end is None or inicio < end < base
    assert {h[4] for h in out.handoffs} <= {"pendente", "em_atendimento", "resolvido"}


def test_shift_values_and_dates() -> None:
    plan = Plan(1_000, 42, TODAY)
    rows = list(generate.vagas(plan, load_reference(), MEDICOS))
    assert len(rows) == plan.vagas
    assert all(800 <= r[5] <= 3_500 and r[5] % 50 == 0 for r in rows)
    assert all(TODAY - dt.timedelta(days=30) <= r[4] < TODAY + dt.timedelta(days=90) for r in rows)
    assert all(1 <= r[1] <= plan.hospitais for r in rows)


def test_reserved_and_filled_shifts_are_held_by_a_doctor_of_their_specialty() -> None:
    rows = list(generate.vagas(Plan(1_000, 42, TODAY), load_reference(), MEDICOS))
    held = [r for r in rows if r[6] in ("reservada", "preenchida")]
    assert held
    for _id, _hospital, esp, _period, day, _value, _status, criada, _updated, medico, reservada in held:
        assert medico in MEDICOS[esp]
        assert criada <= reservada <= dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    assert all(r[9] is None and r[10] is None for r in rows if r[6] == "aberta")
    # A specialty nobody practises cannot have its shifts taken.
    without_medicos = list(generate.vagas(Plan(1_000, 42, TODAY), load_reference(), {}))
    assert {r[6] for r in without_medicos} <= {"aberta", "cancelada"}


@pytest.mark.parametrize(("doctors", "hospitais"), [(10, 20), (1_000, 20), (100_000, 2_000)])
def test_about_one_hospital_per_fifty_doctors(doctors: int, hospitais: int) -> None:
    assert Plan(doctors, 1, TODAY).hospitais == hospitais


def test_weighted_never_picks_a_zero_weight() -> None:
    weighted = Weighted(["a", "b", "c"], [1, 0, 3])
    rng = random.Random(0)
    counts = Counter(weighted.pick(rng) for _ in range(10_000))
    assert counts["b"] == 0
    assert 0.2 < counts["a"] / 10_000 < 0.3


def test_reference_data_is_real_sized() -> None:
    ref = load_reference()
    assert len(ref.ddds) == 67
    assert len({d.ddd for d in ref.ddds}) == 67
    assert len(ref.especialidades) == 55
    assert len({d.estado for d in ref.ddds}) == 27  # 26 states and the Federal District
