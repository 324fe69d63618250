"""The number's health against real Postgres and Redis: Evolution's `connection.update` close stops every
send at once and loses nothing (after `open` every held message goes exactly once); a person's stop
outlives the reconnection; too many failed deliveries pause campaigns (not replies) and alert Slack."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import asyncpg
import httpx
import httpx2
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from julia.alerts import check_and_alert
from julia.health import HealthCheck
from julia.integrations.slack import Slack
from julia.metrics import Metrics
from julia.services import entregas, pausa
from julia.settings import Settings
from julia.testing.evolution import conexao_whatsapp, recibo_whatsapp
from julia.worker.loop import Worker
from julia.worker.pausa import retencao_do_envio
from tests.service.conftest import SLACK, Externos, campanha_devida, drenar, enviado, postar, upsert

MEDICOS = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Any hour (no wall-clock dependence); campaigns at 30/s, so the close lands mid-campaign.
    return settings.model_copy(
        update={
            "admin_token": SecretStr("t"),
            "campanha_hora_inicio": 0,
            "campanha_hora_fim": 24,
            "evolution_campanha_rate_per_s": 30,
        }
    )


class WhatsApp:
    """The fake Evolution's connection, as its sendText sees it: while closed, what Evolution answers
    then (a 400 'Error: Connection Closed'); every call recorded with its time."""

    def __init__(self, externos: Externos) -> None:
        self.aberta = True
        self.chamadas: list[tuple[float, str, int]] = []  # (monotonic time, number, status)
        self.em_curso = asyncio.Event()  # set at the tenth call: the campaign is under way
        externos.envio.mock(side_effect=self._enviar)

    def _enviar(self, request: httpx.Request) -> httpx.Response:
        numero = json.loads(request.content)["number"]
        if len(self.chamadas) >= 9:
            self.em_curso.set()
        if not self.aberta:
            self.chamadas.append((time.monotonic(), numero, 400))
            fechada = {
                "status": 400,
                "error": "Bad Request",
                "response": {"message": ["Error: Connection Closed"]},
            }
            return httpx.Response(400, json=fechada)
        self.chamadas.append((time.monotonic(), numero, 201))
        return enviado(request)

    def aceitas(self) -> collections.Counter[str]:
        return collections.Counter(n for _, n, status in self.chamadas if status == 201)


async def _conexao(cliente: httpx.AsyncClient, state: str, razao: int) -> None:
    resposta = await postar(cliente, conexao_whatsapp(state, razao))
    assert resposta.status_code == 200, resposta.text


async def test_close_stops_every_send_at_once_and_after_open_each_held_message_goes_once(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externos: Externos,
) -> None:
    whatsapp = WhatsApp(externos)
    await campanha_devida(pool, settings, "conexao", MEDICOS)
    parar = asyncio.Event()
    rodando = asyncio.create_task(worker.run(parar))
    try:
        await whatsapp.em_curso.wait()
        whatsapp.aberta = False  # the phone drops; Evolution gives up and says so
        await _conexao(cliente, "close", 401)
        fechada_em = time.monotonic()
        assert await retencao_do_envio(redis) == "tudo"
        # Sends already under way when the stop was read may still end (in a 400, or delivered); after
        # one second nothing more is even tried, for as long as the connection stays closed.
        await asyncio.sleep(1.0)
        depois_de_um_segundo = len(whatsapp.chamadas)
        await asyncio.sleep(1.0)
        assert len(whatsapp.chamadas) == depois_de_um_segundo
        assert all(t < fechada_em + 1.0 for t, _, _ in whatsapp.chamadas)
        assert len(whatsapp.aceitas()) < MEDICOS  # the close did hold part of the campaign
        retidas = await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'")
        assert retidas > 0

        whatsapp.aberta = True
        await _conexao(cliente, "open", 200)
        assert await retencao_do_envio(redis) == "nada"
        fim = time.monotonic() + 20
        while await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status <> 'enviada'"):
            assert time.monotonic() < fim, "the held messages were not sent after the reconnection"
            await asyncio.sleep(0.05)
    finally:
        parar.set()
        await rodando
    # Nothing lost, nothing twice: one accepted send per doctor, and the stop spent no row's tries.
    aceitas = whatsapp.aceitas()
    assert len(aceitas) == MEDICOS
    assert set(aceitas.values()) == {1}
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'erro'") == 0


async def test_a_claimed_row_is_given_back_uncounted_when_the_stop_lands_before_its_send(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis, worker: Worker, externos: Externos
) -> None:
    """One doctor's two replies go one after the other: the first is in flight when WhatsApp closes, the
    second, claimed in the same batch, is given back ('pendente', its claim not counted)."""
    liberar = asyncio.Event()
    em_voo = asyncio.Event()

    async def lento(request: httpx.Request) -> httpx.Response:
        em_voo.set()
        await liberar.wait()
        return enviado(request)

    externos.envio.mock(side_effect=lento)
    await postar(cliente, upsert("Primeira", msg_id="C1"))
    await postar(cliente, upsert("Segunda", msg_id="C2"))
    for _ in range(2):  # one doctor's messages are answered one at a time
        for tarefa in await worker.claim_entradas(10):
            await worker._attempt(tarefa)
    assert await worker.remetente.despachar() == 2
    await em_voo.wait()
    await _conexao(cliente, "close", 401)
    assert await worker.remetente.despachar() == 0  # the sender reads the stop
    liberar.set()
    await worker.remetente.aguardar()
    linhas = await pool.fetch("SELECT status, tentativas FROM fila_mensagens ORDER BY id")
    assert [(r["status"], r["tentativas"]) for r in linhas] == [("enviada", 1), ("pendente", 0)]
    assert externos.envio.call_count == 1

    await _conexao(cliente, "open", 200)
    await drenar(worker, pool)
    assert externos.envio.call_count == 2
    assert [r["status"] for r in await pool.fetch("SELECT status FROM fila_mensagens")] == ["enviada"] * 2


async def test_a_persons_stop_outlives_the_reconnection(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    await pausa.pausar(redis, "campanha errada")
    await _conexao(cliente, "refused", 428)
    assert set((await pausa.estado(redis)).causas) == {"manual", "whatsapp"}
    await _conexao(cliente, "connecting", 200)  # Evolution reconnecting changes nothing
    assert set((await pausa.estado(redis)).causas) == {"manual", "whatsapp"}
    await _conexao(cliente, "open", 200)
    estado = await pausa.estado(redis)
    assert (estado.pausado, set(estado.causas)) == (True, {"manual"})
    assert await pool.fetchval("SELECT estado FROM evolution_conexoes WHERE instancia = 'julia'") == "open"
    assert await pausa.retomar(redis) == ["manual"]


async def test_too_many_failed_deliveries_pause_campaigns_not_replies_and_alert_slack(
    cliente: httpx.AsyncClient,
    http: httpx2.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externos: Externos,
) -> None:
    for i in range(60):  # 60 receipts in the window, 12 of them failed: 20% > the 10% default
        await postar(cliente, recibo_whatsapp(f"3EB0E{i}", "5511999990000", "ERROR" if i < 12 else "READ"))
    check = HealthCheck.build(settings, pool, redis, Metrics())
    slack = Slack(SLACK, http, timeout_s=settings.slack_timeout_s, metrics=check.metrics)
    rodada = await check_and_alert(check, slack=slack)
    assert [p.key for p in rodada.report.problems] == ["entregas"]
    assert rodada.announced == ["entregas"]
    assert "12 de 60 falharam" in json.loads(externos.slack.calls[-1].request.content)["text"]
    assert await entregas.pausar_campanhas_se_falham(redis, rodada.report) is True
    assert await retencao_do_envio(redis) == "campanhas"

    await campanha_devida(pool, settings, "conexao", 3)
    await postar(cliente, upsert("Tem plantão?"))
    for tarefa in await worker.claim_entradas(10):
        await worker._attempt(tarefa)
    for _ in range(3):  # claims and sends what is not held (drenar would wait for the campaign)
        await worker.remetente.despachar()
        await worker.remetente.aguardar()
    assert [n for n, _ in externos.textos_enviados()] == ["5511999990000"]  # the reply only
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 3
    estado = await pausa.estado(redis)
    assert (estado.pausado, estado.campanhas, set(estado.causas)) == (False, True, {"entregas"})
    assert "envio" in {p.key for p in (await check.check()).problems}  # the pause stays in sight

    assert await pausa.retomar(redis) == ["entregas"]  # a person looked
    await drenar(worker, pool)
    assert len(externos.envio.calls) == 4
