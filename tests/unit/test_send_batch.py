"""How many rows one sender holds: enough slots for a second of both send rates, so the slots never cap
the sends below the rate limits the business set."""

from __future__ import annotations

import pytest

from julia.settings import Settings
from julia.worker.sender import MIN_BATCH, batch_for


@pytest.mark.parametrize(
    ("replies", "campanhas", "batch"),
    [(30.0, 5.0, 35), (120.0, 5.0, 125), (2.0, 0.5, MIN_BATCH), (30.5, 0.2, 31)],
)
def test_one_second_of_both_rates(replies: float, campanhas: float, batch: int) -> None:
    settings = Settings(
        evolution_rate_per_s=replies, evolution_campanha_rate_per_s=campanhas, evolution_typing_delay_ms=0
    )
    assert batch_for(settings) == batch


def test_on_baileys_the_typing_delay_holds_the_slot() -> None:
    # A campaign send holds its slot through Evolution's 1.5 s of 'typing...': 5/s x 2.5 s more rows.
    assert batch_for(Settings(evolution_rate_per_s=30.0, evolution_campanha_rate_per_s=5.0)) == 43
    # The Cloud API has no typing delay: a second of both rates.
    cloud = Settings(
        evolution_rate_per_s=30.0, evolution_campanha_rate_per_s=5.0, evolution_integration="cloud-api"
    )
    assert batch_for(cloud) == 35
