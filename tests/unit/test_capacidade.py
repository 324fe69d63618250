"""The capacity run's verdict: what fails it, whatever its times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from julia import servers
from julia.testing.capacidade import piso, portao, relatorio
from julia.testing.capacidade.__main__ import comparado_ao_piso, falhas, medir_piso
from julia.testing.capacidade.carga import Cenario


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


def test_the_page_shows_each_runs_verdict_percentiles_and_chart(tmp_path: Path) -> None:
    amostras = [
        {
            "t": float(t),
            "entradas_abertas": t,
            "claude_em_voo": None if t == 0 else 2 * t,
            "fila_vencida": 0,
            "cpu_pct": {"serve": 10.0, "worker0": 30.0 + t, "postgres": 8.0},
        }
        for t in range(5)
    ]
    resumo = {"p50": 2.2, "p90": 4.5, "p99": 7.8, "max": 14.7, "n": 40}
    execucao = {
        "cenario": {"nome": "tempestade-40med-5s-1w", "workers": 1},
        "tempo_resposta_s": resumo,
        "claude_latencia_s": {**resumo, "p99": 7.5},
        "webhook_ms": {"p50": 5.0, "p90": 9.0, "p99": 15.0, "max": 20.0, "n": 40},
        "aceitas_por_s": [8, 8, 8, 8, 8],
        "respostas_por_s": [0, 6, 8, 9, 9, 8],
        "amostras": amostras,
    }
    motivo = "tempestade-40med-5s-1w: 1 messages answered twice"
    pagina = relatorio.escrever([execucao], ["a summary line <b>"], [motivo], tmp_path / "capacity.html")
    texto = pagina.read_text()
    assert "capacity: FAILED" in texto
    assert motivo in texto
    assert "a summary line &lt;b&gt;" in texto  # escaped
    assert "<td>7.8</td>" in texto  # the time-to-reply p99...
    assert "<td>7.5</td>" in texto  # ...beside the p99 of Claude's latencies in the same run
    grafico = tmp_path / "capacity-graficos" / "tempestade-40med-5s-1w.png"
    assert grafico.read_bytes().startswith(b"\x89PNG")
    assert "src='capacity-graficos/tempestade-40med-5s-1w.png'" in texto


def test_a_run_with_its_floor_says_how_far_above_it_julia_is() -> None:
    r = {"cpu_ms_por_resposta": {"julia": 15.0}, "piso": {"cpu_ms_por_resposta": {"total": 10.0}}}
    assert comparado_ao_piso(r) == "the floor 10.0 ms/reply at the same rate and latencies (julia 1.50x it); "
    assert comparado_ao_piso({"cpu_ms_por_resposta": {"julia": 15.0}}) == ""


def test_a_floor_that_cannot_be_measured_is_said_and_fails_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def nao_sobe(*_: Any, **__: Any) -> dict[str, Any]:
        raise RuntimeError("worker not ready after 60 s: see worker.log")

    monkeypatch.setattr(piso, "medir", nao_sobe)
    servicos = servers.Servers("postgresql://x", "redis://x", "url", "url")
    assert medir_piso(Cenario(), servicos, tmp_path) is None
    assert "the floor was not measured: RuntimeError: worker not ready" in capsys.readouterr().err


def _com_etapas(resposta_p99_ms: float, envio_p99_ms: float, **extra: Any) -> dict[str, Any]:
    """A storm's result with the stages the worker recorded (carga.ETAPAS) and the third parties' p99s."""
    r = _resultado(p99=12.0)
    r["cenario"]["evolution_p99_ms"] = 600.0
    r["claude_latencia_s"] = {"p99": 8.0}
    r["etapas_ms"] = {
        "resposta": {"p99": resposta_p99_ms, "n": 300},
        "envio": {"p99": envio_p99_ms, "n": 300},
    }
    r["cpu_ms_por_resposta"] = {"julia": 15.0}
    return {**r, **extra}


def test_a_slow_sender_is_named_as_where_the_time_went() -> None:
    r = _com_etapas(8_300.0, 4_800.0, piso={"cpu_ms_por_resposta": {"total": 10.0}})
    assert portao.causa(r) == (
        "sending: p99 +4200 ms beyond Evolution's p99 (600 ms) "
        "(then answering: p99 +300 ms beyond Claude's p99 (8000 ms)); "
        "julia CPU 15.0 ms/reply, 1.50x the floor's 10.0 in this run"
    )


def test_a_slow_answer_is_named_with_claudes_rate_limit_waits() -> None:
    r = _com_etapas(12_000.0, 700.0, tentativas={"esperas": 40})
    assert portao.causa(r).startswith("answering: p99 +4000 ms beyond Claude's p99 (8000 ms) (then sending")
    assert "40 waits on Claude's rate limit" in portao.causa(r)
    assert portao.causa(r).endswith("julia CPU 15.0 ms/reply (the floor was not measured)")


def test_a_storm_with_no_reply_has_nothing_to_attribute() -> None:
    assert portao.causa(_resultado()).startswith("no reply completed")
