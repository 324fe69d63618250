"""The one Slack client's 429 policy: a short Retry-After is waited once and the post tried again; a long
one (or a second 429) is handed to the caller as SlackLimitado, never retried sooner."""

from __future__ import annotations

import httpx
import pytest
import respx

from julia.integrations.slack import ESPERA_MAX_S, Slack, SlackLimitado
from julia.metrics import Metrics
from tests.support import ponte

URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"


def _limitado(segundos: str) -> httpx.Response:
    return httpx.Response(429, text="rate_limited", headers={"Retry-After": segundos})


async def test_um_retry_after_curto_e_esperado_e_o_post_repetido() -> None:
    with respx.mock() as router:
        rota = router.post(URL).mock(side_effect=[_limitado("1"), httpx.Response(200, text="ok")])
        async with ponte.cliente(router) as http:
            await Slack(URL, http, timeout_s=5.0, metrics=Metrics()).notificar("oi")
    assert rota.call_count == 2


@pytest.mark.parametrize("respostas", [[str(ESPERA_MAX_S + 1)], ["1", "7"]])
async def test_uma_espera_longa_ou_um_segundo_429_vai_ao_chamador(respostas: list[str]) -> None:
    metrics = Metrics()
    with respx.mock() as router:
        rota = router.post(URL).mock(side_effect=[_limitado(s) for s in respostas])
        async with ponte.cliente(router) as http:
            with pytest.raises(SlackLimitado) as limite:
                await Slack(URL, http, timeout_s=5.0, metrics=metrics).notificar("oi")
    assert (rota.call_count, limite.value.espera_s) == (len(respostas), int(respostas[-1]))
    assert metrics.counters()["slack_falhas"] == 1
