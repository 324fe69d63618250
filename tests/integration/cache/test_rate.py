"""The sender's token buckets (GCRA in Redis): one second of sends passes at once, the next send waits
one interval, buckets are shared by every Taxa on the same Redis, and the classes do not share."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from julia.settings import Settings
from julia.worker.rate import GCRA, PRIORITY_REPLY, Rate, message_class

KEY = "julia:teste:gcra"


def _settings(instancia: str) -> Settings:
    return Settings(
        evolution_instance=instancia,
        evolution_rate_per_s=20,
        evolution_campanha_rate_per_s=2,
        evolution_api_key=SecretStr("x"),
    )


async def test_a_one_second_burst_then_an_interval(redis: aioredis.Redis) -> None:
    await redis.delete(KEY)
    script = redis.register_script(GCRA)
    interval = 1e6 / 20
    args = [interval, 19 * interval]
    esperas = [int(await script(keys=[KEY], args=args)) for _ in range(21)]
    assert esperas[:20] == [0] * 20
    assert 0 < esperas[20] <= interval  # the 21st conforms within one interval (50 ms), not a second
    await redis.delete(KEY)


async def test_the_bucket_is_shared_and_the_classes_are_not(redis: aioredis.Redis) -> None:
    instancia = "teste-taxa"
    await redis.delete(*[f"julia:evolution:gcra:{instancia}:{c}" for c in ("resposta", "campanha")])
    um, other_one = Rate(redis, _settings(instancia)), Rate(redis, _settings(instancia))
    await um.wait_for("campanha")
    await other_one.wait_for("campanha")  # the campaign bucket (2/s) is now empty for both processes
    key = f"julia:evolution:gcra:{instancia}:campanha"
    assert int(await redis.register_script(GCRA)(keys=[key], args=[5e5, 5e5])) > 0
    for _ in range(20):  # replies draw from their own bucket: no wait behind the campaign
        await um.wait_for("resposta")
    assert int(await redis.exists(f"julia:evolution:gcra:{instancia}:resposta")) == 1


def test_class_by_priority() -> None:
    assert message_class(PRIORITY_REPLY) == "resposta"
    assert message_class(10) == "resposta"
    assert message_class(5) == "campanha"
    assert message_class(0) == "campanha"
