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

from julia.integrations import IntegracaoError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.evolution import Evolution
from julia.integrations.slack import Slack
from julia.settings import Settings
from julia.testing import controle
from julia.testing.latencia import Latencia
from julia.testing.servidor import escutar


@pytest.fixture(scope="module")
def servidor() -> Iterator[controle.Falsos]:
    with controle.iniciar() as falsos:
        yield falsos


@pytest.fixture
async def falsos(servidor: controle.Falsos) -> controle.Falsos:
    await servidor.limpar()
    for servico in ("claude", "evolution", "chatwoot", "slack"):
        await servidor.configurar(servico, falha=None)
    await servidor.configurar("claude", rpm=None, latencia={})
    await servidor.configurar("evolution", latencia={})
    return servidor


def _settings(falsos: controle.Falsos) -> Settings:
    return Settings(
        evolution_url=falsos.url,
        evolution_api_key=SecretStr("x"),
        chatwoot_url=falsos.url,
        chatwoot_api_token=SecretStr("x"),
        chatwoot_account_id=1,
        chatwoot_inbox_id=1,
    )


def _claude(falsos: controle.Falsos) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="x", base_url=falsos.url, max_retries=0, timeout=5.0)


async def _perguntar(cliente: anthropic.AsyncAnthropic, texto: str) -> str:
    msg = await cliente.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": texto}]
    )
    return "".join(b.text for b in msg.content if b.type == "text")


def test_latencia_tem_a_mediana_e_o_p99_pedidos() -> None:
    rng = random.Random(1)
    latencia = Latencia(mediana_ms=2000, p99_ms=8000)
    amostras = sorted(latencia.amostra_s(rng) for _ in range(20_000))
    assert statistics.median(amostras) == pytest.approx(2.0, rel=0.05)
    assert amostras[int(0.99 * len(amostras))] == pytest.approx(8.0, rel=0.1)
    assert Latencia().amostra_s(rng) == 0.0


async def test_claude_responde_no_formato_do_sdk(falsos: controle.Falsos) -> None:
    cliente = _claude(falsos)
    try:
        assert await _perguntar(cliente, "tem plantão?") == "(Júlia de teste) Recebi: tem plantão?"
    finally:
        await cliente.close()
    assert (await falsos.estado())["contadores"]["claude_pedidos"] == 1


async def test_claude_acima_do_rpm_responde_429_com_retry_after(falsos: controle.Falsos) -> None:
    await falsos.configurar("claude", rpm=2)
    cliente = _claude(falsos)
    try:
        await _perguntar(cliente, "1")
        await _perguntar(cliente, "2")
        with pytest.raises(anthropic.RateLimitError) as erro:
            await _perguntar(cliente, "3")
    finally:
        await cliente.close()
    assert int(erro.value.response.headers["retry-after"]) >= 1
    assert (await falsos.estado())["contadores"]["claude_429"] == 1
    assert (
        len(await falsos.latencias_claude()) == 2
    )  # uma latência sorteada por chamada atendida, não pelo 429


async def test_falhas_do_claude_mudam_com_o_servidor_rodando(falsos: controle.Falsos) -> None:
    cliente = _claude(falsos)
    try:
        await falsos.configurar("claude", falha="529")
        with pytest.raises(anthropic.APIStatusError) as erro:
            await _perguntar(cliente, "oi")
        assert erro.value.status_code == 529
        await falsos.configurar("claude", falha="hang")
        with pytest.raises(anthropic.APITimeoutError):
            await _claude_rapido(falsos, "oi")
        await falsos.configurar("claude", falha=None)
        assert await _perguntar(cliente, "oi") == "(Júlia de teste) Recebi: oi"
    finally:
        await cliente.close()


async def _claude_rapido(falsos: controle.Falsos, texto: str) -> str:
    cliente = anthropic.AsyncAnthropic(api_key="x", base_url=falsos.url, max_retries=0, timeout=0.5)
    try:
        return await _perguntar(cliente, texto)
    finally:
        await cliente.close()


async def test_evolution_registra_cada_envio_e_suas_falhas(falsos: controle.Falsos) -> None:
    async with httpx2.AsyncClient() as http:
        evolution = Evolution(_settings(falsos), http)
        assert (await evolution.enviar_texto("+5511999990000", "Olá")) is not None
        await falsos.configurar("evolution", falha="400")
        with pytest.raises(IntegracaoError) as permanente:
            await evolution.enviar_texto("+5511999990001", "Olá")
        assert not permanente.value.transitorio
        await falsos.configurar("evolution", falha="503")
        with pytest.raises(IntegracaoError) as transitoria:
            await evolution.enviar_texto("+5511999990002", "Olá")
        assert transitoria.value.transitorio
    enviadas = await falsos.enviadas()
    assert [(e["numero"], e["status"]) for e in enviadas] == [
        ("5511999990000", 201),
        ("5511999990001", 400),
        ("5511999990002", 503),
    ]
    assert (await falsos.enviadas(desde=2))[0]["numero"] == "5511999990002"


async def test_evolution_desconectada_recusa_com_connection_closed_e_julia_tenta_de_novo(
    falsos: controle.Falsos,
) -> None:
    """While the fake's connection is closed, sendText answers what Evolution answers then (a 400 saying
    "Connection Closed"): for julia's client an outage, tried again, not a number that is not on WhatsApp."""
    try:
        assert await falsos.conexao("close", 401) == {"state": "close", "julia": None}  # no webhook_url
        async with httpx2.AsyncClient() as http:
            evolution = Evolution(_settings(falsos), http)
            with pytest.raises(IntegracaoError) as fechada:
                await evolution.enviar_texto("+5511999990000", "Olá")
            assert fechada.value.transitorio
            assert "Connection Closed" in str(fechada.value)
            estado = (await http.get(f"{falsos.url}/instance/connectionState/julia")).json()
            assert estado["instance"]["state"] == "close"
            assert (await falsos.conexao("open", 200))["state"] == "open"
            assert (await evolution.enviar_texto("+5511999990000", "Olá")) is not None
    finally:
        await falsos.conexao("open", 200)
    assert [e["status"] for e in await falsos.enviadas()] == [400, 201]


async def test_evolution_lento_aceita_o_envio_que_o_cliente_desistiu(falsos: controle.Falsos) -> None:
    await falsos.configurar("evolution", falha="lento", lento_ms=2000)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{falsos.url}/message/sendText/julia", json={"number": "55", "text": "a"}, timeout=0.3
            )
    assert [e["status"] for e in await falsos.enviadas()] == [201]


async def test_chatwoot_e_slack(falsos: controle.Falsos) -> None:
    async with httpx2.AsyncClient() as http:
        chatwoot = Chatwoot(_settings(falsos), http)
        contato, origem = await chatwoot.criar_contato("+5511999990000", "Dra. Ana")
        assert await chatwoot.criar_contato("+5511999990000", "Dra. Ana") == (contato, None)  # 422 -> search
        conversa = await chatwoot.criar_conversa(contato, origem, "+5511999990000")
        await chatwoot.enviar_mensagem(conversa, "oi", "incoming")
        await chatwoot.adicionar_rotulo(conversa)
        await chatwoot.adicionar_rotulo(conversa)
        await chatwoot.apagar_contato(contato)  # an LGPD erasure: `head :ok`, no body
        await chatwoot.apagar_contato(contato)  # already gone (404): done all the same
        await Slack(falsos.slack_url, http, timeout_s=5.0).notificar("alerta")
    chamadas = await falsos.estado()
    assert chamadas["contadores"]["slack"] == 1
    assert await falsos.slack() == ["alerta"]
    rotulos = [c for c in chamadas_chatwoot(await _chatwoot(falsos)) if c.endswith("/labels")]
    assert rotulos == ["GET /labels", "POST /labels", "GET /labels"]  # the second call finds it there


async def test_control_calls_reuse_one_ssl_context(
    falsos: controle.Falsos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each control call makes a client, and httpx would build a default SSL context for each (about
    40 ms of blocked event loop): the capacity run's driver polls several times a second."""
    feitos: list[object] = []
    original = ssl.create_default_context

    def contar(*args: object, **kwargs: object) -> ssl.SSLContext:
        feitos.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", contar)
    await falsos.estado()
    await falsos.enviadas()
    assert feitos == []


async def _chatwoot(falsos: controle.Falsos) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        return list((await http.get(f"{falsos.url}/_controle/chatwoot")).json())


def chamadas_chatwoot(chamadas: list[dict[str, object]]) -> list[str]:
    return [f"{c['metodo']} /{str(c['caminho']).rsplit('/', 1)[-1]}" for c in chamadas]


def test_connections_to_the_fakes_do_not_wait_for_a_delayed_ack() -> None:
    """Nagle off on the listening socket, so on every connection it accepts (Linux copies the option):
    with it on, each call to a kept-alive connection waited 40 ms for the caller's delayed ACK."""
    sock = escutar("127.0.0.1", 0)
    try:
        cliente = socket.create_connection(sock.getsockname())
        aceita, _ = sock.accept()
        with cliente, aceita:
            assert aceita.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()
