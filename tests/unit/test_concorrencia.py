"""The worker's adaptive concurrency (AIMD): grows while Claude keeps up, halves when Anthropic pushes
back, shrinks when Claude starts queueing us, and stays within [1, MAX_WORKERS]."""

from __future__ import annotations

from julia.worker.concorrencia import Concorrencia


def _cheia(c: Concorrencia) -> None:
    """Every slot in use: the limit is being tested, so a good reply may raise it."""
    c.livres(int(c.limite))


def test_comeca_em_16_e_dobra_por_rodada_enquanto_nao_ha_recuo() -> None:
    c = Concorrencia(128)
    assert c.livres(0) == 16
    for _ in range(16):
        _cheia(c)
        c.observar(2.0)
    assert int(c.limite) == 32
    for _ in range(500):
        _cheia(c)
        c.observar(2.0)
    assert c.limite == 128  # never above MAX_WORKERS
    assert c.livres(128) == 0


def test_nao_cresce_com_vagas_ociosas() -> None:
    c = Concorrencia(128)
    for _ in range(100):
        c.livres(3)  # three in flight of sixteen: the limit is not what holds the worker back
        c.observar(2.0)
    assert c.limite == 16


def test_429_ou_529_corta_pela_metade_uma_vez_por_rodada() -> None:
    c = Concorrencia(128, inicial=64, recuo_s=3600)
    for _ in range(40):  # the 40 calls in flight when Anthropic pushed back: one signal
        c.observar(0.1, 429)
    assert c.limite == 32
    c = Concorrencia(128, inicial=64, recuo_s=0)
    c.observar(0.1, 529)
    c.observar(0.1, 529)
    assert c.limite == 16


def test_depois_do_recuo_cresce_devagar() -> None:
    c = Concorrencia(128, inicial=32, recuo_s=0)
    c.observar(0.1, 429)
    assert c.limite == 16
    for _ in range(17):  # one round of replies at the limit: about one more slot, not sixteen
        _cheia(c)
        c.observar(2.0)
    assert int(c.limite) == 17


def test_erro_que_nao_e_sobrecarga_nao_mexe() -> None:
    c = Concorrencia(128)
    for status in (500, 0, 400):
        c.observar(30.0, status)
    assert c.limite == 16


def test_latencia_que_dobra_reduz_o_limite() -> None:
    c = Concorrencia(128, inicial=64, recuo_s=0)
    for _ in range(200):
        c.livres(10)  # not full: the limit holds while the latency is normal
        c.observar(2.0)
    assert c.limite == 64
    for _ in range(5):
        c.observar(12.0)  # Claude now takes six times as long: it is queueing our calls
    assert c.limite < 64


def test_nunca_abaixo_de_um() -> None:
    c = Concorrencia(4, recuo_s=0)
    for _ in range(10):
        c.observar(0.1, 429)
    assert c.livres(0) == 1
