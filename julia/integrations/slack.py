"""Slack incoming webhook: one text message (the handoff alert)."""

from __future__ import annotations

import asyncio

import httpx

from julia.integrations import IntegracaoError
from julia.metrics import metrics


class Slack:
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self._url = url
        self._http = http

    @metrics.timed("slack_notificar")
    async def notificar(self, texto: str) -> None:
        """Post `texto`; one wait-and-retry when Slack says 429 (about one message per second)."""
        for tentativa in range(2):
            try:
                resposta = await self._http.post(self._url, json={"text": texto}, timeout=10.0)
            except httpx.HTTPError as exc:
                raise IntegracaoError("slack", f"{type(exc).__name__}: {exc}", transitorio=True) from exc
            if resposta.status_code == 200:
                return
            if resposta.status_code == 429 and tentativa == 0:
                await asyncio.sleep(min(float(resposta.headers.get("retry-after", "1")), 5.0))
                continue
            raise IntegracaoError(
                "slack",
                f"HTTP {resposta.status_code}: {resposta.text[:200]}",
                transitorio=resposta.status_code >= 500 or resposta.status_code == 429,
                status=resposta.status_code,
            )
