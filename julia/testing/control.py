"""Start the fake server as a child process and drive it: what tests and the capacity benchmark use."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from julia.testing.server import PREFIX

START_S = 30.0
CONTROL_TIMEOUT_S = 30.0  # a fake server busy with a storm answers its control route late, not never


class Fakes:
    """A running fake server: its URL, and async calls to its control route."""

    def __init__(self, url: str, processo: subprocess.Popen[str] | None = None) -> None:
        self.url = url
        self.processo = processo
        self.slack_url = f"{url}/slack/hook"
        # httpx builds a default SSL context (the CA bundle read and parsed: about 40 ms of CPU, with the
        # event loop blocked) for every client it makes, TLS or not. The capacity run asks this server
        # for its sends four times a second, so that was most of its driver's CPU and 40 ms stalls in the
        # middle of the doctors' webhooks. One context, made once, for the control calls (plain HTTP).
        self._ssl = ssl.create_default_context()

    def _http(self) -> httpx.AsyncClient:
        """A client for one control call (a client per call: callers run on different event loops)."""
        return httpx.AsyncClient(base_url=self.url, timeout=CONTROL_TIMEOUT_S, verify=self._ssl)

    def ambiente(self) -> dict[str, str]:
        """The settings that point julia at these fakes (keys are placeholders the fakes accept)."""
        return {
            "EVOLUTION_URL": self.url,
            "EVOLUTION_API_KEY": "falso",
            # The drivers post with the `apikey` header (no X-Julia-Token): said explicitly, as in production.
            "EVOLUTION_WEBHOOK_SENDING_KEY": "true",
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": "falso",
            "CHATWOOT_URL": self.url,
            "CHATWOOT_API_TOKEN": "falso",
            "CHATWOOT_ACCOUNT_ID": "1",
            "CHATWOOT_INBOX_ID": "1",
            "SLACK_WEBHOOK_URL": self.slack_url,
        }

    async def configure(self, servico: str, **campos: Any) -> dict[str, Any]:
        async with self._http() as http:
            resposta = await http.patch(f"/_controle/{servico}", json=campos)
            resposta.raise_for_status()
            return dict(resposta.json())

    async def estado(self) -> dict[str, Any]:
        async with self._http() as http:
            resposta = await http.get("/_controle")
            resposta.raise_for_status()
            return dict(resposta.json())

    async def enviadas(self, desde: int = 0) -> list[dict[str, Any]]:
        async with self._http() as http:
            resposta = await http.get("/_controle/enviadas", params={"desde": desde})
            resposta.raise_for_status()
            return list(resposta.json()["enviadas"])

    async def conexao(self, state: str, status_reason: int) -> dict[str, Any]:
        """Change the fake WhatsApp connection; Evolution's `connection.update` goes to julia (with the
        evolution `webhook_url` set): `{"state", "julia": julia's status}`."""
        async with self._http() as http:
            resposta = await http.post(
                "/_controle/evolution/conexao", json={"state": state, "statusReason": status_reason}
            )
            resposta.raise_for_status()
            return dict(resposta.json())

    async def recibos(self) -> list[dict[str, Any]]:
        """Every `messages.update` posted to julia: `{"id", "status", "resposta"}`, in posting order."""
        async with self._http() as http:
            resposta = await http.get("/_controle/recibos")
            resposta.raise_for_status()
            return list(resposta.json())

    async def claude_latencies(self) -> list[float]:
        async with self._http() as http:
            resposta = await http.get("/_controle/claude")
            resposta.raise_for_status()
            return [float(s) for s in resposta.json()]

    async def slack(self) -> list[str]:
        """The texts the fake Slack webhook received."""
        async with self._http() as http:
            resposta = await http.get("/_controle/slack")
            resposta.raise_for_status()
            return [str(t) for t in resposta.json()]

    async def clear(self) -> None:
        async with self._http() as http:
            (await http.post("/_controle/limpar")).raise_for_status()


@contextmanager
def start(config: dict[str, Any] | None = None, *, semente: int = 0) -> Iterator[Fakes]:
    """Run `python -m julia.testing.server` on a free loopback port until the block ends."""
    processo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "julia.testing.server",
            "--config",
            json.dumps(config or {}),
            "--seed",
            str(semente),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert processo.stdout is not None
        linha = processo.stdout.readline()  # the server prints its URL once its socket is bound
        if not linha.startswith(PREFIX):
            raise RuntimeError(f"fake server did not start (exit {processo.poll()}): {linha!r}")
        yield Fakes(linha.split()[1], processo)
    finally:
        processo.terminate()
        try:
            processo.wait(START_S)
        except subprocess.TimeoutExpired:
            processo.kill()
            processo.wait()
        if processo.stdout is not None:
            processo.stdout.close()
