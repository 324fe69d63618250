"""The retry rule both queues share, with each queue's own numbers (unchanged by the shared module)."""

from __future__ import annotations

from julia.data.fila import Retentativa
from julia.worker import remetente, resposta


def test_entradas_tres_tentativas_sem_teto() -> None:
    r = resposta.fila_entradas().retentativa
    assert r.maximo == resposta.MAX_TENTATIVAS == 3
    assert [r.espera_s(n) for n in (1, 2)] == [5.0, 10.0]
    assert [r.esgotada(n) for n in (1, 2, 3)] == [False, False, True]


def test_mensagens_cinco_tentativas_com_teto() -> None:
    r = Retentativa(remetente.MAX_TENTATIVAS, 2.0, teto_s=remetente.BACKOFF_MAX_S)
    assert r.maximo == 5
    assert [r.espera_s(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert r.espera_s(12) == 300.0  # 2 * 2**11 would be over an hour
    assert [r.esgotada(n) for n in (4, 5)] == [False, True]
