"""How many rows one sender holds: enough slots for a second of both send rates, so the slots never cap
the sends below the rate limits the business set."""

from __future__ import annotations

import pytest

from julia.settings import Settings
from julia.worker.remetente import LOTE_MINIMO, lote_para


@pytest.mark.parametrize(
    ("respostas", "campanhas", "lote"),
    [(30.0, 5.0, 35), (120.0, 5.0, 125), (2.0, 0.5, LOTE_MINIMO), (30.5, 0.2, 31)],
)
def test_um_segundo_das_duas_taxas(respostas: float, campanhas: float, lote: int) -> None:
    settings = Settings(evolution_rate_per_s=respostas, evolution_campanha_rate_per_s=campanhas)
    assert lote_para(settings) == lote
