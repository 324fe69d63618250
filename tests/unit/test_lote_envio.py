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
    settings = Settings(
        evolution_rate_per_s=respostas, evolution_campanha_rate_per_s=campanhas, evolution_typing_delay_ms=0
    )
    assert lote_para(settings) == lote


def test_numa_baileys_o_atraso_de_digitacao_segura_o_lugar() -> None:
    # A campaign send holds its slot through Evolution's 1.5 s of 'typing...': 5/s x 2.5 s more rows.
    assert lote_para(Settings(evolution_rate_per_s=30.0, evolution_campanha_rate_per_s=5.0)) == 43
    # The Cloud API has no typing delay: a second of both rates.
    cloud = Settings(
        evolution_rate_per_s=30.0, evolution_campanha_rate_per_s=5.0, evolution_integration="cloud-api"
    )
    assert lote_para(cloud) == 35
