"""The retry rule both queues share, with each queue's own numbers (unchanged by the shared module)."""

from __future__ import annotations

from julia.services.queues import INBOUND, INBOUND_TRIES, SEND


def test_inbound_three_attempts_without_ceiling() -> None:
    r = INBOUND.tries
    assert r.max_tries == INBOUND_TRIES == 3
    assert [r.delay_s(n) for n in (1, 2)] == [5.0, 10.0]
    assert [r.exhausted(n) for n in (1, 2, 3)] == [False, False, True]


def test_messages_five_attempts_with_ceiling() -> None:
    r = SEND.tries
    assert r.max_tries == 5
    assert [r.delay_s(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert r.delay_s(12) == 300.0  # 2 * 2**11 would be over an hour
    assert [r.exhausted(n) for n in (4, 5)] == [False, True]


def test_rate_limit_waits_follow_one_rule_in_both_queues() -> None:
    """A 429 is a wait on both queues (julia/services/queues.py RATE_LIMITED): as many, as capped."""
    assert INBOUND.waits.max_tries == SEND.waits.max_tries == 24
    assert INBOUND.waits.ceiling_s == SEND.waits.ceiling_s == 60.0
