"""The fake server as a real process, driven through julia's own clients (which speak the real wire
formats) and the anthropic SDK: what the tests, the capacity benchmark and `julia dev` rely on."""

from __future__ import annotations

import random
import socket
import ssl
import statistics
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import pytest
from pydantic import SecretStr

from julia.integrations import IntegrationError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.evolution import Evolution
from julia.integrations.slack import Slack
from julia.settings import Settings
from julia.testing import control
from julia.testing.latency import Latency
from julia.testing.server import listen


@pytest.fixture(scope="module")
def server() -> Iterator[control.Fakes]:
    with control.start() as fake_servers:
        yield fake_servers


@pytest.fixture
async def fake_servers(server: control.Fakes) -> control.Fakes:
    await server.clear()
    for servico in ("claude", "evolution", "chatwoot", "slack"):
        await server.configure(servico, falha=None)
    await server.configure("claude", rpm=None, latencia={})
    await server.configure("evolution", latencia={})
    return server


def _settings(fake_servers: control.Fakes) -> Settings:
    return Settings(
        evolution_url=fake_servers.url,
        evolution_api_key=SecretStr("x"),
        chatwoot_url=fake_servers.url,
        chatwoot_api_token=SecretStr("x"),
        chatwoot_account_id=1,
        chatwoot_inbox_id=1,
    )


def _claude(fake_servers: control.Fakes) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="x", base_url=fake_servers.url, max_retries=0, timeout=5.0)


async def _ask(cliente: anthropic.AsyncAnthropic, texto: str) -> str:
    msg = await cliente.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": texto}]
    )
    return "".join(b.text for b in msg.content if b.type == "text")


def test_latency_has_the_median_and_p99_asked_for() -> None:
    rng = random.Random(1)
    latencia = Latency(mediana_ms=2000, p99_ms=8000)
    samples = sorted(latencia.sample_s(rng) for _ in range(20_000))
    assert statistics.median(samples) == pytest.approx(2.0, rel=0.05)
    assert samples[int(0.99 * len(samples))] == pytest.approx(8.0, rel=0.1)
    assert Latency().sample_s(rng) == 0.0


async def test_claude_answers_in_the_sdk_format(fake_servers: control.Fakes) -> None:
    cliente = _claude(fake_servers)
    try:
        assert await _ask(cliente, "tem plantão?") == "(Júlia de teste) Recebi: tem plantão?"
    finally:
        await cliente.close()
    assert (await fake_servers.estado())["contadores"]["claude_pedidos"] == 1


async def test_claude_above_rpm_answers_429_with_retry_after(fake_servers: control.Fakes) -> None:
    await fake_servers.configure("claude", rpm=2)
    cliente = _claude(fake_servers)
    try:
        await _ask(cliente, "1")
        await _ask(cliente, "2")
        with pytest.raises(anthropic.RateLimitError) as erro:
            await _ask(cliente, "3")
    finally:
        await cliente.close()
    assert int(erro.value.response.headers["retry-after"]) >= 1
    assert (await fake_servers.estado())["contadores"]["claude_429"] == 1
    assert (
        len(await fake_servers.claude_latencies()) == 2
    )  # uma latência sorteada por chamada atendida, não pelo 429


async def test_claude_failures_change_with_the_server_running(fake_servers: control.Fakes) -> None:
    cliente = _claude(fake_servers)
    try:
        await fake_servers.configure("claude", falha="529")
        with pytest.raises(anthropic.APIStatusError) as erro:
            await _ask(cliente, "oi")
        assert erro.value.status_code == 529
        await fake_servers.configure("claude", falha="hang")
        with pytest.raises(anthropic.APITimeoutError):
            await _fast_claude(fake_servers, "oi")
        await fake_servers.configure("claude", falha=None)
        assert await _ask(cliente, "oi") == "(Júlia de teste) Recebi: oi"
    finally:
        await cliente.close()


async def _fast_claude(fake_servers: control.Fakes, texto: str) -> str:
    cliente = anthropic.AsyncAnthropic(api_key="x", base_url=fake_servers.url, max_retries=0, timeout=0.5)
    try:
        return await _ask(cliente, texto)
    finally:
        await cliente.close()


async def test_evolution_records_every_send_and_its_failures(fake_servers: control.Fakes) -> None:
    async with httpx2.AsyncClient() as http:
        evolution = Evolution(_settings(fake_servers), http)
        assert (await evolution.send_text("+5511999990000", "Olá")) is not None
        await fake_servers.configure("evolution", falha="400")
        with pytest.raises(IntegrationError) as permanent:
            await evolution.send_text("+5511999990001", "Olá")
        assert not permanent.value.transient_one
        await fake_servers.configure("evolution", falha="503")
        with pytest.raises(IntegrationError) as transient:
            await evolution.send_text("+5511999990002", "Olá")
        assert transient.value.transient_one
    enviadas = await fake_servers.enviadas()
    assert [(e["numero"], e["status"]) for e in enviadas] == [
        ("5511999990000", 201),
        ("5511999990001", 400),
        ("5511999990002", 503),
    ]
    assert (await fake_servers.enviadas(desde=2))[0]["numero"] == "5511999990002"


async def test_disconnected_evolution_refuses_with_connection_closed_and_julia_tries_again(
    fake_servers: control.Fakes,
) -> None:
    """While the fake's connection is closed, sendText answers what Evolution answers then (a 400 saying
    "Connection Closed"): for julia's client an outage, tried again, not a number that is not on WhatsApp."""
    try:
        assert await fake_servers.conexao("close", 401) == {"state": "close", "julia": None}  # no webhook_url
        async with httpx2.AsyncClient() as http:
            evolution = Evolution(_settings(fake_servers), http)
            with pytest.raises(IntegrationError) as closed:
                await evolution.send_text("+5511999990000", "Olá")
            assert closed.value.transient_one
            assert "Connection Closed" in str(closed.value)
            estado = (await http.get(f"{fake_servers.url}/instance/connectionState/julia")).json()
            assert estado["instance"]["state"] == "close"
            assert (await fake_servers.conexao("open", 200))["state"] == "open"
            assert (await evolution.send_text("+5511999990000", "Olá")) is not None
    finally:
        await fake_servers.conexao("open", 200)
    assert [e["status"] for e in await fake_servers.enviadas()] == [400, 201]


async def test_slow_evolution_accepts_the_send_the_client_gave_up(fake_servers: control.Fakes) -> None:
    await fake_servers.configure("evolution", falha="lento", lento_ms=2000)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{fake_servers.url}/message/sendText/julia", json={"number": "55", "text": "a"}, timeout=0.3
            )
    assert [e["status"] for e in await fake_servers.enviadas()] == [201]


async def test_chatwoot_e_slack(fake_servers: control.Fakes) -> None:
    async with httpx2.AsyncClient() as http:
        chatwoot = Chatwoot(_settings(fake_servers), http)
        contato, origem = await chatwoot.create_contact("+5511999990000", "Dra. Ana")
        assert await chatwoot.create_contact("+5511999990000", "Dra. Ana") == (contato, None)  # 422 -> search
        conversa = await chatwoot.create_conversa(contato, origem, "+5511999990000")
        await chatwoot.send_message(conversa, "oi", "incoming")
        await chatwoot.add_label(conversa)
        await chatwoot.add_label(conversa)
        await chatwoot.delete_contact(contato)  # an LGPD erasure: `head :ok`, no body
        await chatwoot.delete_contact(contato)  # already gone (404): done all the same
        await Slack(fake_servers.slack_url, http, timeout_s=5.0).notify("alerta")
    calls = await fake_servers.estado()
    assert calls["contadores"]["slack"] == 1
    assert await fake_servers.slack() == ["alerta"]
    labels = [c for c in chatwoot_calls(await _chatwoot(fake_servers)) if c.endswith("/labels")]
    assert labels == ["GET /labels", "POST /labels", "GET /labels"]  # the second call finds it there


async def test_control_calls_reuse_one_ssl_context(
    fake_servers: control.Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each control call makes a client, and httpx would build a default SSL context for each (about
    40 ms of blocked event loop): the capacity run's driver polls several times a second."""
    done_items: list[object] = []
    original = ssl.create_default_context

    def count(*args: object, **kwargs: object) -> ssl.SSLContext:
        done_items.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", count)
    await fake_servers.estado()
    await fake_servers.enviadas()
    assert done_items == []


async def _chatwoot(fake_servers: control.Fakes) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        return list((await http.get(f"{fake_servers.url}/_controle/chatwoot")).json())


def chatwoot_calls(calls: list[dict[str, object]]) -> list[str]:
    return [f"{c['metodo']} /{str(c['caminho']).rsplit('/', 1)[-1]}" for c in calls]


def test_connections_to_the_fakes_do_not_wait_for_a_delayed_ack() -> None:
    """Nagle off on the listening socket, so on every connection it accepts (Linux copies the option):
    with it on, each call to a kept-alive connection waited 40 ms for the caller's delayed ACK."""
    sock = listen("127.0.0.1", 0)
    try:
        cliente = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        with cliente, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()
