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
from julia.services import deliveries, pause
from julia.settings import Settings
from julia.testing.evolution import whatsapp_connection, whatsapp_receipt
from julia.worker.loop import Worker
from julia.worker.pause import send_retention
from tests.service.conftest import SLACK, Externals, campanha_due, drain, post, sent, upsert

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

    def __init__(self, externals: Externals) -> None:
        self.is_open = True
        self.calls: list[tuple[float, str, int]] = []  # (monotonic time, number, status)
        self.in_progress = asyncio.Event()  # set at the tenth call: the campaign is under way
        externals.envio.mock(side_effect=self._send)

    def _send(self, request: httpx.Request) -> httpx.Response:
        numero = json.loads(request.content)["number"]
        if len(self.calls) >= 9:
            self.in_progress.set()
        if not self.is_open:
            self.calls.append((time.monotonic(), numero, 400))
            closed = {
                "status": 400,
                "error": "Bad Request",
                "response": {"message": ["Error: Connection Closed"]},
            }
            return httpx.Response(400, json=closed)
        self.calls.append((time.monotonic(), numero, 201))
        return sent(request)

    def accepted_ones(self) -> collections.Counter[str]:
        return collections.Counter(n for _, n, status in self.calls if status == 201)


async def _connection(cliente: httpx.AsyncClient, state: str, reason: int) -> None:
    resposta = await post(cliente, whatsapp_connection(state, reason))
    assert resposta.status_code == 200, resposta.text


async def test_close_stops_every_send_at_once_and_after_open_each_held_message_goes_once(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externals: Externals,
) -> None:
    whatsapp = WhatsApp(externals)
    await campanha_due(pool, settings, "conexao", MEDICOS)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await whatsapp.in_progress.wait()
        whatsapp.is_open = False  # the phone drops; Evolution gives up and says so
        await _connection(cliente, "close", 401)
        closed_at = time.monotonic()
        assert await send_retention(redis) == "tudo"
        # Sends already under way when the stop was read may still end (in a 400, or delivered); after
        # one second nothing more is even tried, for as long as the connection stays closed.
        await asyncio.sleep(1.0)
        after_a_second = len(whatsapp.calls)
        await asyncio.sleep(1.0)
        assert len(whatsapp.calls) == after_a_second
        assert all(t < closed_at + 1.0 for t, _, _ in whatsapp.calls)
        assert len(whatsapp.accepted_ones()) < MEDICOS  # the close did hold part of the campaign
        held = await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'")
        assert held > 0

        whatsapp.is_open = True
        await _connection(cliente, "open", 200)
        assert await send_retention(redis) == "nada"
        end = time.monotonic() + 20
        while await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status <> 'enviada'"):
            assert time.monotonic() < end, "the held messages were not sent after the reconnection"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    # Nothing lost, nothing twice: one accepted send per doctor, and the stop spent no row's tries.
    accepted_ones = whatsapp.accepted_ones()
    assert len(accepted_ones) == MEDICOS
    assert set(accepted_ones.values()) == {1}
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'erro'") == 0


async def test_a_claimed_row_is_given_back_uncounted_when_the_stop_lands_before_its_send(
    cliente: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    worker: Worker,
    externals: Externals,
) -> None:
    """One doctor's two replies go one after the other: the first is in flight when WhatsApp closes, the
    second, claimed in the same batch, is given back ('pendente', its claim not counted)."""
    release = asyncio.Event()
    in_flight = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        in_flight.set()
        await release.wait()
        return sent(request)

    externals.envio.mock(side_effect=slow)
    await post(cliente, upsert("Primeira", msg_id="C1"))
    await post(cliente, upsert("Segunda", msg_id="C2"))
    for _ in range(2):  # one doctor's messages are answered one at a time
        for task in await worker.claim_inbound(10):
            await worker._attempt(task)
    assert await worker.sender.dispatch() == 2
    await in_flight.wait()
    await _connection(cliente, "close", 401)
    assert await worker.sender.dispatch() == 0  # the sender reads the stop
    release.set()
    await worker.sender.wait_for()
    linhas = await pool.fetch("SELECT status, tentativas FROM fila_mensagens ORDER BY id")
    assert [(r["status"], r["tentativas"]) for r in linhas] == [("enviada", 1), ("pendente", 0)]
    assert externals.envio.call_count == 1

    await _connection(cliente, "open", 200)
    await drain(worker, pool)
    assert externals.envio.call_count == 2
    assert [r["status"] for r in await pool.fetch("SELECT status FROM fila_mensagens")] == ["enviada"] * 2


async def test_a_persons_stop_outlives_the_reconnection(
    cliente: httpx.AsyncClient, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    await pause.pause(redis, "campanha errada")
    await _connection(cliente, "refused", 428)
    assert set((await pause.estado(redis)).causas) == {"manual", "whatsapp"}
    await _connection(cliente, "connecting", 200)  # Evolution reconnecting changes nothing
    assert set((await pause.estado(redis)).causas) == {"manual", "whatsapp"}
    await _connection(cliente, "open", 200)
    estado = await pause.estado(redis)
    assert (estado.pausado, set(estado.causas)) == (True, {"manual"})
    assert await pool.fetchval("SELECT estado FROM evolution_conexoes WHERE instancia = 'julia'") == "open"
    assert await pause.resume(redis) == ["manual"]


async def test_too_many_failed_deliveries_pause_campaigns_not_replies_and_alert_slack(
    cliente: httpx.AsyncClient,
    http: httpx2.AsyncClient,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    worker: Worker,
    externals: Externals,
) -> None:
    for i in range(60):  # 60 receipts in the window, 12 of them failed: 20% > the 10% default
        await post(cliente, whatsapp_receipt(f"3EB0E{i}", "5511999990000", "ERROR" if i < 12 else "READ"))
    check = HealthCheck.build(settings, pool, redis, Metrics())
    slack = Slack(SLACK, http, timeout_s=settings.slack_timeout_s, metrics=check.metrics)
    this_round = await check_and_alert(check, slack=slack)
    assert [p.key for p in this_round.report.problems] == ["entregas"]
    assert this_round.announced == ["entregas"]
    assert "12 de 60 falharam" in json.loads(externals.slack.calls[-1].request.content)["text"]
    assert await deliveries.pause_campanhas_if_failing(redis, this_round.report) is True
    assert await send_retention(redis) == "campanhas"

    await campanha_due(pool, settings, "conexao", 3)
    await post(cliente, upsert("Tem plantão?"))
    for task in await worker.claim_inbound(10):
        await worker._attempt(task)
    for _ in range(3):  # claims and sends what is not held (drenar would wait for the campaign)
        await worker.sender.dispatch()
        await worker.sender.wait_for()
    assert [n for n, _ in externals.sent_texts()] == ["5511999990000"]  # the reply only
    assert await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'") == 3
    estado = await pause.estado(redis)
    assert (estado.pausado, estado.campanhas, set(estado.causas)) == (False, True, {"entregas"})
    assert "envio" in {p.key for p in (await check.check()).problems}  # the pause stays in sight

    assert await pause.resume(redis) == ["entregas"]  # a person looked
    await drain(worker, pool)
    assert len(externals.envio.calls) == 4
