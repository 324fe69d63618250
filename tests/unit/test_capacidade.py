"""The capacity run's verdict: what fails it, whatever its times."""

from __future__ import annotations

from typing import Any

from julia.testing.capacidade.__main__ import falhas


def _resultado(workers: int = 1, p99: float = 5.0, **contagens: int) -> dict[str, Any]:
    base = {"nao_gravadas": 0, "sem_resposta": 0, "duplicadas": 0, "recusadas": 0, "a_quem_saiu": 0}
    return {
        "cenario": {"nome": "tempestade", "workers": workers},
        "tempo_resposta_s": {"p99": p99},
        "claude_latencia_s": {"p99": 3.5},
        **base,
        **contagens,
    }


def test_a_clean_run_within_its_budget_passes() -> None:
    assert falhas(_resultado(), 10.0) == []


def test_one_send_to_a_doctor_who_opted_out_fails_the_run() -> None:
    assert falhas(_resultado(a_quem_saiu=1), None) == [
        "tempestade: 1 messages sent to doctors who opted out or are blocked"
    ]


def test_lost_and_duplicated_messages_and_a_late_p99_each_say_so() -> None:
    motivos = falhas(_resultado(sem_resposta=2, duplicadas=1), 4.0)
    assert len(motivos) == 3
    assert motivos[-1] == "tempestade: time-to-reply p99 5.00 s above the budget of 4.00 s"


def test_the_p99_is_judged_against_the_claude_latencies_the_run_drew() -> None:
    assert falhas(_resultado(), None, 1.5) == []
    assert falhas(_resultado(), None, 1.0) == [
        "tempestade: time-to-reply p99 5.00 s more than 1.00 s above the p99 of this run's Claude latencies "
        "(3.50 s)"
    ]


def test_a_message_accepted_but_not_in_postgres_fails_the_run() -> None:
    assert falhas(_resultado(nao_gravadas=1), None) == [
        "tempestade: 1 messages accepted (200) but not in Postgres"
    ]


def test_ingestion_alone_has_no_time_to_reply_to_judge() -> None:
    assert falhas(_resultado(workers=0, p99=float("nan")), 1.0, 1.0) == []
    assert falhas(_resultado(workers=0, recusadas=3), 1.0, 1.0) == [
        "tempestade: 3 messages whose webhook was never accepted"
    ]
