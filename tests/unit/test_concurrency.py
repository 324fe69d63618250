"""The worker's adaptive concurrency (AIMD): grows while Claude keeps up, halves when Anthropic pushes
back, shrinks when Claude starts queueing us, and stays within [1, MAX_WORKERS]."""

from __future__ import annotations

import random

from julia.testing.latency import Latency
from julia.worker.concurrency import Concurrency

CLAUDE = Latency(mediana_ms=2000, p99_ms=8000)  # the capacity benchmark's: lognormal, heavy-tailed


def _full(c: Concurrency) -> None:
    """Every slot in use: the limit is being tested, so a good reply may raise it."""
    c.free_ones(int(c.limit))


def test_starts_at_16_and_doubles_per_round_while_there_is_no_backoff() -> None:
    c = Concurrency(128)
    assert c.free_ones(0) == 16
    for _ in range(16):
        _full(c)
        c.watch(2.0)
    assert int(c.limit) == 32
    for _ in range(500):
        _full(c)
        c.watch(2.0)
    assert c.limit == 128  # never above MAX_WORKERS
    assert c.free_ones(128) == 0


def test_does_not_grow_with_idle_vagas() -> None:
    c = Concurrency(128)
    for _ in range(100):
        c.free_ones(3)  # three in flight of sixteen: the limit is not what holds the worker back
        c.watch(2.0)
    assert c.limit == 16


def test_429_or_529_halves_once_per_round() -> None:
    c = Concurrency(128, initial=64, backoff_s=3600)
    for _ in range(40):  # the 40 calls in flight when Anthropic pushed back: one signal
        c.watch(0.1, 429)
    assert c.limit == 32
    c = Concurrency(128, initial=64, backoff_s=0)
    c.watch(0.1, 529)
    c.watch(0.1, 529)
    assert c.limit == 16


def test_after_the_backoff_grows_slowly() -> None:
    c = Concurrency(128, initial=32, backoff_s=0)
    c.watch(0.1, 429)
    assert c.limit == 16
    for _ in range(17):  # one round of replies at the limit: about one more slot, not sixteen
        _full(c)
        c.watch(2.0)
    assert int(c.limit) == 17


def test_error_that_is_not_overload_changes_nothing() -> None:
    c = Concurrency(128)
    for status in (500, 0, 400):
        c.watch(30.0, status)
    assert c.limit == 16


def test_latency_that_doubles_lowers_the_limit() -> None:
    c = Concurrency(128, initial=64, backoff_s=0)
    for _ in range(200):
        c.free_ones(10)  # not full: the limit holds while the latency is normal
        c.watch(2.0)
    assert c.limit == 64
    for _ in range(11):
        c.watch(12.0)  # Claude now takes six times as long: it is queueing our calls
    assert c.limit < 64


def test_never_below_one() -> None:
    c = Concurrency(4, backoff_s=0)
    for _ in range(10):
        c.watch(0.1, 429)
    assert c.free_ones(0) == 1


def _pushed(c: Concurrency, rng: random.Random, replies: int, factor: float = 1.0) -> int | None:
    """After how many replies (latency `fator` x Claude's draw) the limit was pushed into slow growth."""
    for k in range(1, replies + 1):
        _full(c)
        c.watch(factor * CLAUDE.sample_s(rng))
        if c._grows_slowly:
            return k
    return None


def test_claudes_long_tail_is_not_read_as_a_queue() -> None:
    """Ordinary heavy-tailed latency (median 2 s, p99 8 s), 2,000 replies a run: the limit must reach its
    bound and stay in slow start. The first rule (a 5-reply mean against a plain mean) was pushed in 155
    of 200 such runs; the median against a level started at the first reply in 31 of 400, every one at
    the 50th reply; the level as the plain mean until it is a moving average, in none of 400."""
    pushed = 0
    for semente in range(40):
        c = Concurrency(128, backoff_s=0)
        pushed += _pushed(c, random.Random(semente), 2000) is not None
    assert pushed == 0


def test_a_fast_first_reply_does_not_lower_the_usual_level() -> None:
    """The first reply at 0.3 s, then Claude's ordinary draws: the usual level is the replies' typical
    latency, not the first one's, so nothing is read as queueing."""
    c = Concurrency(128, backoff_s=0)
    _full(c)
    c.watch(0.3)
    assert _pushed(c, random.Random(7), 500) is None


def test_tripled_latency_is_seen_in_a_few_replies() -> None:
    delays = []
    for semente in range(40):
        c = Concurrency(128, backoff_s=0)
        rng = random.Random(1000 + semente)
        if _pushed(c, rng, 300) is None:
            delays.append(_pushed(c, rng, 200, factor=3.0))
    assert delays
    assert all(d is not None and d <= 40 for d in delays)
