"""POST /admin/vagas, PATCH /admin/vagas/{id}, PATCH /admin/medicos/{id}: the token, validated bodies,
404/409/422 with reasons, and the cache forgetting what changed at once."""

from __future__ import annotations

import datetime as dt

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from julia.cache import Cache, medico_por_telefone, vagas_abertas
from julia.services import avisos, reservas
from julia.settings import Settings
from julia.worker.loop import Worker
from tests.service.conftest import Externos, drenar
from tests.service.reservas.conftest import ABERTAS_MAX, Cenario, avisos_de, reservada

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


async def test_sem_token_nada_muda(cliente: httpx.AsyncClient, cenario: Cenario) -> None:
    vaga = await cenario.vaga()
    assert (await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "cancelada"})).status_code == 401
    resposta = await cliente.patch(
        f"/admin/vagas/{vaga}", json={"status": "cancelada"}, headers={"Authorization": "Bearer errado"}
    )
    assert resposta.status_code == 401
    assert await cenario.pool.fetchval("SELECT status FROM vagas WHERE id = $1", vaga) == "aberta"


async def test_criar_vaga_aparece_na_lista_em_cache_na_hora(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    assert await vagas_abertas(pool, cache, cenario.especialidade, 5) == []  # cached empty
    amanha = dt.date.today() + dt.timedelta(days=1)
    corpo = {
        "hospital_id": cenario.hospital,
        "especialidade_id": cenario.especialidade,
        "periodo_id": cenario.periodo,
        "data_plantao": amanha.isoformat(),
        "valor": "1500.00",
    }
    resposta = await cliente.post("/admin/vagas", json=corpo, headers=AUTH)
    assert resposta.status_code == 201, resposta.text
    criada = resposta.json()
    assert (criada["status"], criada["valor"], criada["data_plantao"]) == (
        "aberta",
        "1500.00",
        amanha.isoformat(),
    )
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [criada["id"]]


@pytest.mark.parametrize(
    ("mudanca", "campo"),
    [
        ({"valor": "-10"}, "valor"),
        ({"valor": "12.345"}, "valor"),
        ({"data_plantao": "amanhã"}, "data_plantao"),
        ({"hospital_id": 1}, "hospital_id"),  # unknown field
    ],
)
async def test_corpo_invalido_de_vaga_e_422_com_o_campo(
    cliente: httpx.AsyncClient, cenario: Cenario, mudanca: dict[str, str], campo: str
) -> None:
    vaga = await cenario.vaga()
    resposta = await cliente.patch(f"/admin/vagas/{vaga}", json=mudanca, headers=AUTH)
    assert resposta.status_code == 422
    assert campo in resposta.text


async def test_referencias_e_ids_inexistentes(cliente: httpx.AsyncClient, cenario: Cenario) -> None:
    corpo = {
        "hospital_id": 99_999_999,
        "especialidade_id": cenario.especialidade,
        "periodo_id": cenario.periodo,
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
    vazio = await cliente.patch("/admin/medicos/1", json={}, headers=AUTH)
    assert vazio.status_code == 422
    assert "at least one field" in vazio.text


async def test_mudar_vaga_status_valor_e_data(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vaga = await cenario.vaga(dias=1)
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga]
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
    [listada] = await vagas_abertas(pool, cache, cenario.especialidade, 5)
    assert str(listada["valor"]) == "1750.50"
    # A held shift is filled, then reopened (its doctor let go) by the coordinators.
    medico = await cenario.medico()
    assert (await reservas.reservar(pool, cache, medico, vaga, abertas_max=ABERTAS_MAX)).nova
    preenchida = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "preenchida"}, headers=AUTH)
    assert (preenchida.json()["status"], preenchida.json()["cliente_id"]) == ("preenchida", medico)
    reaberta = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "aberta"}, headers=AUTH)
    assert (reaberta.json()["status"], reaberta.json()["cliente_id"]) == ("aberta", None)
    assert [v["id"] for v in await vagas_abertas(pool, cache, cenario.especialidade, 5)] == [vaga]


async def test_mudar_medico_telefone_nomes_tags_e_conflito(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    medico, outro = await cenario.medico(), await cenario.medico()
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert (await medico_por_telefone(pool, cache, telefone) or {})["id"] == medico  # cached
    resposta = await cliente.patch(
        f"/admin/medicos/{medico}",
        json={
            "telefone": "+5511944443333",
            "primeiro_nome": " Ana Paula ",
            "tags": ["cardio", "noturno"],
            "especialidade_id": cenario.outra_especialidade,
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
    assert await medico_por_telefone(pool, cache, telefone) is None  # the old number stops resolving
    conflito = await cliente.patch(
        f"/admin/medicos/{outro}", json={"telefone": "+5511944443333"}, headers=AUTH
    )
    assert conflito.status_code == 409
    for corpo_ruim in ({"telefone": "11 94444-3333"}, {"status": "vip"}, {"status": None}, {"crm": "x"}):
        assert (
            await cliente.patch(f"/admin/medicos/{outro}", json=corpo_ruim, headers=AUTH)
        ).status_code == 422
    ruim = await cliente.patch(f"/admin/medicos/{outro}", json={"especialidade_id": 99_999_999}, headers=AUTH)
    assert ruim.status_code == 422


# --- the doctor holding a shift is told what a coordinator changed (julia/services/avisos.py) ---------


async def test_cancelar_uma_vaga_reservada_avisa_o_medico_pela_fila(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cache: Cache,
    worker: Worker,
    externos: Externos,
    cenario: Cenario,
) -> None:
    vaga, medico = await reservada(cache, cenario)
    aberta = await cenario.vaga(dias=3)
    for alvo in (vaga, aberta):
        resposta = await cliente.patch(f"/admin/vagas/{alvo}", json={"status": "cancelada"}, headers=AUTH)
        assert resposta.status_code == 200, resposta.text
    assert set(resposta.json()) == set(avisos.COLUNAS_VAGA)  # the shift, not what the notice needed
    [aviso] = await avisos_de(pool, medico)  # the open shift had nobody to tell
    assert aviso.startswith("Aviso: o plantão que você tinha reservado foi cancelado pelo hospital: ")
    assert "Hospital Santa Luzia" in aviso
    await drenar(worker, pool)
    telefone = await pool.fetchval("SELECT telefone FROM clientes WHERE id = $1", medico)
    assert externos.textos_enviados() == [(telefone.lstrip("+"), aviso)]
    # Sent, it is history in the doctor's conversation: Claude reads it when the doctor answers.
    assert await pool.fetchval("SELECT count(*) FROM interacoes WHERE cliente_id = $1", medico) == 1


@pytest.mark.parametrize(
    ("mudanca", "comeco"),
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
async def test_cada_mudanca_diz_o_que_mudou(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    cache: Cache,
    cenario: Cenario,
    mudanca: dict[str, str],
    comeco: str,
) -> None:
    vaga, medico = await reservada(cache, cenario)
    resposta = await cliente.patch(f"/admin/vagas/{vaga}", json=mudanca, headers=AUTH)
    assert resposta.status_code == 200, resposta.text
    [aviso] = await avisos_de(pool, medico)
    assert aviso.startswith(comeco), aviso


async def test_mudar_a_data_diz_as_duas_datas_com_o_dia_da_semana(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    vaga, medico = await reservada(cache, cenario, dias=2)
    antes = await pool.fetchval("SELECT data_plantao FROM vagas WHERE id = $1", vaga)
    depois = antes + dt.timedelta(days=5)
    resposta = await cliente.patch(
        f"/admin/vagas/{vaga}", json={"data_plantao": depois.isoformat()}, headers=AUTH
    )
    assert resposta.status_code == 200, resposta.text
    [aviso] = await avisos_de(pool, medico)
    assert f"{antes:%d/%m/%Y} para " in aviso
    assert f"{depois:%d/%m/%Y}" in aviso


async def test_cada_escrita_do_admin_fica_auditada_com_antes_e_depois(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cenario: Cenario
) -> None:
    await pool.execute("TRUNCATE admin_auditoria")
    vaga = await cenario.vaga(valor="1500.00")
    quem = {**AUTH, "X-Operador": "Marina (coordenacao)"}
    assert (await cliente.patch(f"/admin/vagas/{vaga}", json={"valor": "1800.00"}, headers=quem)).is_success
    assert (
        await cliente.patch("/admin/vagas/999999999", json={"valor": "1.00"}, headers=AUTH)
    ).status_code == 404
    sem_token = await cliente.patch(f"/admin/vagas/{vaga}", json={"valor": "1.00"})
    assert sem_token.status_code == 401  # refused before the route: nothing was attempted, nothing to audit
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


async def test_quem_saiu_ou_foi_bloqueado_nao_recebe_aviso(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, cache: Cache, cenario: Cenario
) -> None:
    """Opt-out wins over a notice too: the sender lets every non-campaign row go (the opt-out's own
    confirmation is one), so a notice to a doctor who left must never be queued."""
    for status in ("opt_out", "bloqueado"):
        vaga, medico = await reservada(cache, cenario)
        await pool.execute("UPDATE clientes SET status = $2 WHERE id = $1", medico, status)
        resposta = await cliente.patch(f"/admin/vagas/{vaga}", json={"status": "cancelada"}, headers=AUTH)
        assert resposta.status_code == 200, resposta.text
        assert await avisos_de(pool, medico) == []
