"""The one Slack client's 429 policy: a short Retry-After is waited once and the post tried again; a long
one (or a second 429) is handed to the caller as SlackLimitado, never retried sooner."""

from __future__ import annotations

import httpx
import pytest
import respx

from julia.integrations.slack import WAIT_MAX_S, RateLimitedSlack, Slack
from julia.metrics import Metrics
from tests.support import bridge

URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"


def _limited(seconds: str) -> httpx.Response:
    return httpx.Response(429, text="rate_limited", headers={"Retry-After": seconds})


async def test_a_short_retry_after_is_waited_and_the_post_repeated() -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(side_effect=[_limited("1"), httpx.Response(200, text="ok")])
        async with bridge.cliente(router) as http:
            await Slack(URL, http, timeout_s=5.0, metrics=Metrics()).notify("oi")
    assert route.call_count == 2


@pytest.mark.parametrize("replies", [[str(WAIT_MAX_S + 1)], ["1", "7"]])
async def test_a_long_wait_or_a_second_429_goes_to_the_caller(replies: list[str]) -> None:
    metrics = Metrics()
    with respx.mock() as router:
        route = router.post(URL).mock(side_effect=[_limited(s) for s in replies])
        async with bridge.cliente(router) as http:
            with pytest.raises(RateLimitedSlack) as limit:
                await Slack(URL, http, timeout_s=5.0, metrics=metrics).notify("oi")
    assert (route.call_count, limit.value.wait_s) == (len(replies), int(replies[-1]))
    assert metrics.counters()["slack_falhas"] == 1
