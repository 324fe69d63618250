"""The worker's adaptive concurrency (AIMD): grows while Claude keeps up, halves when Anthropic pushes
back, shrinks when Claude starts queueing us, and stays within [1, MAX_WORKERS]."""

from __future__ import annotations

import random

from julia.testing.latencia import Latencia
from julia.worker.concorrencia import Concorrencia

CLAUDE = Latencia(mediana_ms=2000, p99_ms=8000)  # the capacity benchmark's: lognormal, heavy-tailed


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
    for _ in range(11):
        c.observar(12.0)  # Claude now takes six times as long: it is queueing our calls
    assert c.limite < 64


def test_nunca_abaixo_de_um() -> None:
    c = Concorrencia(4, recuo_s=0)
    for _ in range(10):
        c.observar(0.1, 429)
    assert c.livres(0) == 1


def _empurrado(c: Concorrencia, rng: random.Random, respostas: int, fator: float = 1.0) -> int | None:
    """After how many replies (latency `fator` x Claude's draw) the limit was pushed into slow growth."""
    for k in range(1, respostas + 1):
        _cheia(c)
        c.observar(fator * CLAUDE.amostra_s(rng))
        if c._cresce_devagar:
            return k
    return None


def test_a_cauda_longa_do_claude_nao_e_lida_como_fila() -> None:
    """Ordinary heavy-tailed latency (median 2 s, p99 8 s), 2,000 replies a run: the limit must reach its
    bound and stay in slow start. The first rule (a 5-reply mean against a plain mean) was pushed in 155
    of 200 such runs; the median against a level started at the first reply in 31 of 400, every one at
    the 50th reply; the level as the plain mean until it is a moving average, in none of 400."""
    empurrados = 0
    for semente in range(40):
        c = Concorrencia(128, recuo_s=0)
        empurrados += _empurrado(c, random.Random(semente), 2000) is not None
    assert empurrados == 0


def test_uma_primeira_resposta_rapida_nao_baixa_o_nivel_usual() -> None:
    """The first reply at 0.3 s, then Claude's ordinary draws: the usual level is the replies' typical
    latency, not the first one's, so nothing is read as queueing."""
    c = Concorrencia(128, recuo_s=0)
    _cheia(c)
    c.observar(0.3)
    assert _empurrado(c, random.Random(7), 500) is None


def test_latencia_triplicada_e_vista_em_poucas_respostas() -> None:
    demoras = []
    for semente in range(40):
        c = Concorrencia(128, recuo_s=0)
        rng = random.Random(1000 + semente)
        if _empurrado(c, rng, 300) is None:
            demoras.append(_empurrado(c, rng, 200, fator=3.0))
    assert demoras
    assert all(d is not None and d <= 40 for d in demoras)
