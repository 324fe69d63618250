"""Slack incoming webhook: one message per call. The one Slack client: handoff and reservation notices
(worker, Chatwoot webhook) and the health alerts (julia/alerts.py).

One 429 policy for every caller: honour Retry-After, never retry sooner than Slack asks (an early retry
only stretches the limit). A wait of at most ESPERA_MAX_S is slept here and the post tried once more:
Slack allows about one message a second per webhook, so a burst usually hears "Retry-After: 1", and a
handoff notice a person must read is worth that second. A longer wait, or a second 429, is not slept
here, where it would hold a worker slot or a request's background task: SlackLimitado carries it to the
caller, who holds off that long (the alerts pause every process through Redis).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2

from julia.integrations import IntegrationError
from julia.metrics import Metrics
from julia.metrics import metrics as metricas_do_processo

WAIT_MAX_S = 5
RETRY_AFTER_DEFAULT_S = 30  # Slack always sends Retry-After with a 429; without a readable one, hold off long


class RateLimitedSlack(IntegrationError):
    """Slack answered 429: post again in `wait_s` seconds, not sooner."""

    def __init__(self, wait_s: int) -> None:
        super().__init__("slack", f"HTTP 429, retry after {wait_s} s", transient_one=True, status=429)
        self.wait_s = wait_s


class Slack:
    """Built once per process from Settings (julia/clients.py): its timeout is SLACK_TIMEOUT_S."""

    def __init__(
        self,
        url: str,
        http: httpx2.AsyncClient,
        *,
        timeout_s: float,
        metrics: Metrics = metricas_do_processo,
    ) -> None:
        self._url = url
        self._http = http
        self._timeout_s = timeout_s
        self._metrics = metrics

    async def notify(self, texto: str, *, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post `texto` (with Block Kit `blocos` when given). IntegracaoError (SlackLimitado for a 429 that
        outlasts the policy above) when Slack did not take it; each such call counts in `slack_falhas`."""
        corpo: dict[str, Any] = {"text": texto} if blocks is None else {"text": texto, "blocks": blocks}
        try:
            with self._metrics.measure("slack_notificar"):
                await self._post(corpo)
        except IntegrationError:
            self._metrics.count("slack_falhas")
            raise

    async def _post(self, corpo: dict[str, Any]) -> None:
        waited = False
        while True:
            try:
                resposta = await self._http.post(self._url, json=corpo, timeout=self._timeout_s)
            except httpx2.HTTPError as exc:
                raise IntegrationError("slack", f"{type(exc).__name__}: {exc}", transient_one=True) from exc
            if resposta.status_code == 200:
                return
            if resposta.status_code != 429:
                raise IntegrationError(
                    "slack",
                    f"HTTP {resposta.status_code}: {resposta.text[:200]}",
                    transient_one=resposta.status_code >= 500,
                    status=resposta.status_code,
                )
            wait = _retry_after_s(resposta)
            if waited or wait > WAIT_MAX_S:
                raise RateLimitedSlack(wait)
            await asyncio.sleep(wait)
            waited = True


# Slack's control characters in message text: `<` opens a mention (`<!channel>`, `<@U123>`) or a link
# (`<https://x|texto>`), `&` an entity. Escaped as Slack documents ("Escaping text"), they print as typed.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_CONTROL = str.maketrans({c: " " for c in [*map(chr, range(32)), "\x7f"]})


def literal_text(texto: str, max_chars: int) -> str:
    """Text someone else wrote (Claude's handoff reason, say) as Slack must print it: no mention, no link,
    no entity, one line, at most `max_chars` characters of it (then "…")."""
    one_line = " ".join(texto.translate(_CONTROL).split())
    if len(one_line) > max_chars:
        one_line = one_line[: max_chars - 1].rstrip() + "…"
    return one_line.translate(_ESCAPES)


def _retry_after_s(resposta: httpx2.Response) -> int:
    header = resposta.headers.get("retry-after", "")
    return max(1, int(header)) if header.isdigit() else RETRY_AFTER_DEFAULT_S
