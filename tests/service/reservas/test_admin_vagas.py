"""POST /admin/vagas, PATCH /admin/vagas/{id}, PATCH /admin/medicos/{id}: the token, validated bodies,
404/409/422 with reasons, and the cache forgetting what changed at once."""

from __future__ import annotations

import datetime as dt

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from julia.cache import Cache, medico_by_phone, open_vagas
from julia.services import avisos, reservas
from julia.settings import Settings
from julia.worker.loop import Worker
from tests.service.conftest import Externals, drain
from tests.service.reservas.conftest import OPEN_MAX, Scenario, avisos_de, reservada

TOKEN = "segredo-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(TOKEN)})


@pytest.fixture
def cache(cliente: httpx.AsyncClient, app: FastAPI) -> Cache:
    """The app's own Cache, so what a route invalidates is what the test reads."""
    app_cache: Cache = app.state.clients.cache
    return app_cache


async def test_without_token_nothing_changes(cliente: httpx.AsyncClient, scenario: Scenario) -> None:
    vaga = await scenario.vaga()
    assert (await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "cancelada"})).status_code == 401
    resposta = await cliente.patch(
        f"/admin/vagas/{vaga}", json={"status": "cancelada"}, headers={"Authorization": "Bearer errado"}
    )
    assert resposta.status_code == 401
    assert await scenario.pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"


async def test_criar_vaga_shows_in_the_cached_list_at_once(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    assert await open_vagas(pool, cache, scenario.especialidade, 5) == []  # cached empty
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    corpo = {
        "hospital_id": scenario.hospital,
        "especialidade_id": scenario.especialidade,
        "periodo_id": scenario.periodo,
        "data_plantao": tomorrow.isoformat(),
        "valor": "1500.00",
    }
    resposta = await cliente.post("/admin/vagas", json=corpo, headers=AUTH)
    assert resposta.status_code == 201, resposta.text
    criada = resposta.json()
    assert (criada["status"], criada["valor"], criada["data_plantao"]) == (
        "aberta",
        "1500.00",
        tomorrow.isoformat(),
    )
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [criada["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"valor": "-10"}, "valor"),
        ({"valor": "12.345"}, "valor"),
        ({"data_plantao": "amanhã"}, "data_plantao"),
        ({"hospital_id": 1}, "hospital_id"),  # unknown field
    ],
)
async def test_invalid_vaga_body_is_422_with_the_field(
    cliente: httpx.AsyncClient, scenario: Scenario, change: dict[str, str], field: str
) -> None:
    vaga = await scenario.vaga()
    resposta = await cliente.patch(f"/admin/vagas/{vaga}", json=change, headers=AUTH)
    assert resposta.status_code == 422
    assert field in resposta.text


async def test_nonexistent_references_and_ids(cliente: httpx.AsyncClient, scenario: Scenario) -> None:
    corpo = {
        "hospital_id": 99_999_999,
        "especialidade_id": scenario.especialidade,
        "periodo_id": scenario.periodo,
        "data_plantao": "2030-01-01",
        "valor": "1500.00",
    }
    resposta = await cliente.post("/admin/vagas", json=corpo, headers=AUTH)
    assert resposta.status_code == 422
    assert "hospital_id" in resposta.json()["detail"]
    assert (
        await cliente.patch("/admin/vagas/99999999", json={"valor": "10"}, headers=AUTH)
    ).status_code == 404
    assert (
        await cliente.patch("/admin/medicos/99999999", json={"status": "ativo"}, headers=AUTH)
    ).status_code == 404
    empty = await cliente.patch("/admin/medicos/1", json={}, headers=AUTH)
    assert empty.status_code == 422
    assert "at least one field" in empty.text


async def test_change_vaga_status_value_and_date(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    vaga = await scenario.vaga(days=1)
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga]
    # Reserving without a doctor is refused: that is Júlia's reservar_vaga, which records who.
    recusa = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "reservada"}, headers=AUTH)
    assert recusa.status_code == 409
    assert "needs a doctor" in recusa.json()["detail"]
    nova_data = (dt.date.today() + dt.timedelta(days=9)).isoformat()
    resposta = await cliente.patch(
        f"/admin/vagas/{vaga}", json={"valor": "1750.50", "data_plantao": nova_data}, headers=AUTH
    )
    assert resposta.status_code == 200
    assert (resposta.json()["valor"], resposta.json()["data_plantao"]) == ("1750.50", nova_data)
    [listed] = await open_vagas(pool, cache, scenario.especialidade, 5)
    assert str(listed["valor"]) == "1750.50"
    # A held shift is filled, then reopened (its doctor let go) by the coordinators.
    medico = await scenario.medico()
    assert (await reservas.reserve(pool, cache, medico, vaga, abertas_max=OPEN_MAX)).nova
    filled = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "preenchida"}, headers=AUTH)
    assert (filled.json()["status"], filled.json()["cliente_id"]) == ("preenchida", medico)
    reopened = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "aberta"}, headers=AUTH)
    assert (reopened.json()["status"], reopened.json()["cliente_id"]) == ("aberta", None)
    assert [v["id"] for v in await open_vagas(pool, cache, scenario.especialidade, 5)] == [vaga]


async def test_change_medico_phone_names_tags_and_conflict(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    medico, other_one = await scenario.medico(), await scenario.medico()
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert (await medico_by_phone(pool, cache, telefone) or {})["id"] == medico  # cached
    resposta = await cliente.patch(
        f"/admin/medicos/{medico}",
        json={
            "telefone": "+5511944443333",
            "primeiro_nome": " Ana Paula ",
            "tags": ["cardio", "noturno"],
            "especialidade_id": scenario.other_especialidade,
        },
        headers=AUTH,
    )
    assert resposta.status_code == 200, resposta.text
    corpo = resposta.json()
    assert (corpo["telefone"], corpo["primeiro_nome"], corpo["tags"]) == (
        "+5511944443333",
        "Ana Paula",
        ["cardio", "noturno"],
    )
    assert await medico_by_phone(pool, cache, telefone) is None  # the old number stops resolving
    conflict = await cliente.patch(
        f"/admin/medicos/{other_one}", json={"telefone": "+5511944443333"}, headers=AUTH
    )
    assert conflict.status_code == 409
    for bad_body in ({"telefone": "11 94444-3333"}, {"status": "vip"}, {"status": None}, {"crm": "x"}):
        assert (
            await cliente.patch(f"/admin/medicos/{other_one}", json=bad_body, headers=AUTH)
        ).status_code == 422
    bad = await cliente.patch(
        f"/admin/medicos/{other_one}", json={"especialidade_id": 99_999_999}, headers=AUTH
    )
    assert bad.status_code == 422


# --- the doctor holding a shift is told what a coordinator changed (julia/services/avisos.py) ---------


async def test_cancelling_a_reserved_vaga_tells_the_medico_through_the_queue(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cache: Cache,
    worker: Worker,
    externals: Externals,
    scenario: Scenario,
) -> None:
    vaga, medico = await reservada(cache, scenario)
    is_open = await scenario.vaga(days=3)
    for alvo in (vaga, is_open):
        resposta = await cliente.patch(f"/admin/vagas/{alvo}", json={"status": "cancelada"}, headers=AUTH)
        assert resposta.status_code == 200, resposta.text
    assert set(resposta.json()) == set(avisos.VAGA_COLUMNS)  # the shift, not what the notice needed
    [aviso] = await avisos_de(pool, medico)  # the open shift had nobody to tell
    assert aviso.startswith("Aviso: o plantão que você tinha reservado foi cancelado pelo hospital: ")
    assert "Hospital Santa Luzia" in aviso
    await drain(worker, pool)
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert externals.sent_texts() == [(telefone.lstrip("+"), aviso)]
    # Sent, it is history in the doctor's conversation: Claude reads it when the doctor answers.
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE cliente_id = $1", medico) == 1


@pytest.mark.parametrize(
    ("change", "beginning"),
    [
        ({"status": "aberta"}, "Aviso: a equipe desfez a sua reserva"),
        ({"status": "preenchida"}, "Boa notícia: o hospital confirmou o seu plantão"),
        (
            {"valor": "1800.00"},
            "Aviso: o plantão que você reservou mudou (o valor passou de R$ 1.500,00 para",
        ),
        ({"status": "preenchida", "valor": "1600.00"}, "Aviso: o plantão que você reservou mudou"),
    ],
)
async def test_every_change_says_what_changed(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cache: Cache,
    scenario: Scenario,
    change: dict[str, str],
    beginning: str,
) -> None:
    vaga, medico = await reservada(cache, scenario)
    resposta = await cliente.patch(f"/admin/vagas/{vaga}", json=change, headers=AUTH)
    assert resposta.status_code == 200, resposta.text
    [aviso] = await avisos_de(pool, medico)
    assert aviso.startswith(beginning), aviso


async def test_changing_the_date_says_both_dates_with_the_weekday(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    vaga, medico = await reservada(cache, scenario, days=2)
    antes = await pool.fetchval("SELECT data_plantao FROM vagas WHERE id = $1", vaga)
    depois = antes + dt.timedelta(days=5)
    resposta = await cliente.patch(
        f"/admin/vagas/{vaga}", json={"data_plantao": depois.isoformat()}, headers=AUTH
    )
    assert resposta.status_code == 200, resposta.text
    [aviso] = await avisos_de(pool, medico)
    assert f"{antes:%d/%m/%Y} para " in aviso
    assert f"{depois:%d/%m/%Y}" in aviso


async def test_every_admin_write_is_audited_with_before_and_after(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, scenario: Scenario
) -> None:
    await pool.execute("TRUNCATE admin_auditoria")
    vaga = await scenario.vaga(valor="1500.00")
    who = {**AUTH, "X-Operador": "Marina (coordenacao)"}
    assert (await cliente.patch(f"/admin/vagas/{vaga}", json={"valor": "1800.00"}, headers=who)).is_success
    assert (
        await cliente.patch("/admin/vagas/999999999", json={"valor": "1.00"}, headers=AUTH)
    ).status_code == 404
    without_token = await cliente.patch(f"/admin/vagas/{vaga}", json={"valor": "1.00"})
    assert (
        without_token.status_code == 401
    )  # refused before the route: nothing was attempted, nothing to audit
    linhas = await pool.fetch(
        "SELECT operador, acao, alvo, pedido, antes ->> 'valor' AS antes, status,"
        " depois ->> 'valor' AS depois FROM admin_auditoria ORDER BY id"
    )
    assert [dict(r) for r in linhas] == [
        {
            "operador": "Marina (coordenacao)",
            "acao": "PATCH /admin/vagas/{vaga_id}",
            "alvo": str(vaga),
            "pedido": {"valor": "1800.00"},
            "antes": "1500.00",
            "status": 200,
            "depois": "1800.00",
        },
        {
            "operador": "anônimo",
            "acao": "PATCH /admin/vagas/{vaga_id}",
            "alvo": "999999999",
            "pedido": {"valor": "1.00"},
            "antes": None,
            "status": 404,
            "depois": None,
        },
    ]


async def test_who_left_or_was_blocked_gets_no_aviso(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, scenario: Scenario
) -> None:
    """Opt-out wins over a notice too: the sender lets every non-campaign row go (the opt-out's own
    confirmation is one), so a notice to a doctor who left must never be queued."""
    for status in ("opt_out", "bloqueado"):
        vaga, medico = await reservada(cache, scenario)
        await pool.execute("UPDATE clientes SET status = $2 WHERE id = $1", medico, status)
        resposta = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "cancelada"}, headers=AUTH)
        assert resposta.status_code == 200, resposta.text
        assert await avisos_de(pool, medico) == []
