"""The capacity runs as a page (`reports/out/capacity.html`, beside the JSON): each run's verdict, its
percentiles against the Claude latencies it drew, each process's memory and garbage-collector pauses, and
one chart of the run over time (messages accepted and answered per second; messages open and Claude calls
in flight; CPU and memory of each process), from the samples the run took once a second."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt

from julia.perf.engine.report import STYLE, html_table

DPI = 100


def escrever(execucoes: list[dict[str, Any]], linhas: list[str], motivos: list[str], destino: Path) -> Path:
    """Write the page for `execucoes` (their summary `linhas`, the gate's `motivos`) to `destino`, its
    charts beside it; the page's path."""
    graficos = destino.parent / f"{destino.stem}-graficos"
    graficos.mkdir(parents=True, exist_ok=True)
    veredito = "FAILED" if motivos else "passed"
    partes = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>julia capacity</title>",
        f"<style>{STYLE}</style><body>",
        f"<div class='banner {veredito}'><h1>capacity: {veredito}</h1>"
        f"<p>{len(execucoes)} run(s): julia serve and julia worker as operators run them, fake third "
        "parties</p></div>",
        *(f"<p class='FAIL'>{html.escape(m)}</p>" for m in motivos),
    ]
    for execucao, linha in zip(execucoes, linhas, strict=True):
        nome = execucao["cenario"]["nome"]
        grafico = _grafico(execucao, graficos / f"{nome}.png")
        partes += [
            f"<h2 id='{html.escape(nome)}'>{html.escape(nome)}</h2>",
            f"<p class='info'>{html.escape(linha)}</p>",
            _percentis(execucao),
            _memoria(execucao),
            _pausas(execucao),
            f"<img src='{html.escape(grafico.relative_to(destino.parent).as_posix())}' "
            f"alt='{html.escape(nome)} over time'>",
        ]
    partes.append("</body></html>")
    destino.write_text("\n".join(partes), encoding="utf-8")
    return destino


def _percentis(execucao: dict[str, Any]) -> str:
    """Time-to-reply beside what Claude took in the same run (seconds), and the webhook (ms)."""
    series = [
        ("time-to-reply (s)", execucao["tempo_resposta_s"]),
        ("Claude latency drawn (s)", execucao["claude_latencia_s"]),
        ("webhook (ms)", execucao["webhook_ms"]),
    ]
    linhas = [
        [rotulo, *(_num(resumo[k]) for k in ("p50", "p90", "p99", "max")), str(resumo["n"])]
        for rotulo, resumo in series
        if resumo["n"]
    ]
    return html_table(["", "p50", "p90", "p99", "max", "n"], linhas)


def _memoria(execucao: dict[str, Any]) -> str:
    """Each julia process's memory over the run (USS: its own pages; RSS: with the shared ones), and the
    servers' beside them."""
    linhas = [
        [
            nome,
            _num(p["rss_peak_mib"]),
            _num(p["uss_first_mib"]),
            _num(p["uss_peak_mib"]),
            "-" if p["uss_growth_kib_per_1000"] is None else f"{p['uss_growth_kib_per_1000']:+.0f}",
        ]
        for nome, p in execucao.get("memoria", {}).items()
        if p.get("samples")
    ]
    linhas += [
        [
            f"{nome} ({'PSS of its processes' if nome == 'postgres' else 'its own RSS'})",
            "",
            _num(v["primeira"]),
            _num(v["pico"]),
            "",
        ]
        for nome, v in execucao.get("memoria_servidores_mib", {}).items()
        if nome != "redis_dados"
    ]
    if not linhas:
        return ""
    cabeca = ["memory (MiB)", "RSS peak", "USS first", "USS peak", "USS growth, KiB per 1,000 messages"]
    return html_table(cabeca, linhas)


def _pausas(execucao: dict[str, Any]) -> str:
    """Garbage-collector pauses per process and generation (julia.gc_pauses), in ms."""
    linhas = [
        [
            f"{p['process']} (pid {p['pid']}) {g}",
            str(v["n"]),
            _num(v["p50_ms"]),
            _num(v["p99_ms"]),
            _num(v["max_ms"]),
            f"{v['paused_pct']:.2f}",
        ]
        for p in execucao.get("gc_pausas", [])
        for g, v in p.items()
        if g.startswith("gen")
    ]
    if not linhas:
        return ""
    return html_table(["GC pauses (ms)", "n", "p50", "p99", "max", "% of wall time"], linhas)


def _num(valor: float) -> str:
    return "-" if math.isnan(valor) else f"{valor:.3g}"


def _grafico(execucao: dict[str, Any], caminho: Path) -> Path:
    amostras = execucao["amostras"]
    t = [a["t"] for a in amostras]
    fig, (chegadas, filas, cpu, memoria) = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    aceitas, respostas = execucao["aceitas_por_s"], execucao["respostas_por_s"]
    chegadas.step(range(len(aceitas)), aceitas, where="post", label="webhooks accepted")
    if respostas:
        chegadas.step(range(len(respostas)), respostas, where="post", label="replies sent")
    chegadas.set_ylabel("per second")
    filas.plot(t, [a["entradas_abertas"] for a in amostras], label="inbound messages open")
    filas.plot(t, [a["claude_em_voo"] or 0 for a in amostras], label="Claude calls in flight")
    filas.plot(t, [a["fila_vencida"] for a in amostras], label="replies due to send")
    filas.set_ylabel("messages")
    for processo in amostras[0]["cpu_pct"] if amostras else []:
        cpu.plot(t, [a["cpu_pct"].get(processo) or 0.0 for a in amostras], label=processo)
    cpu.set_ylabel("% of a core")
    for processo in amostras[-1].get("memoria_mib", {}) if amostras else []:
        memoria.plot(t, [a.get("memoria_mib", {}).get(processo, math.nan) for a in amostras], label=processo)
    memoria.set_ylabel("MiB (julia: USS)")
    memoria.set_xlabel("seconds from the first message")
    for eixo in (chegadas, filas, cpu, memoria):
        if eixo.get_lines():  # a run from before memory was sampled has none on its memory panel
            eixo.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        eixo.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(caminho, dpi=DPI)
    plt.close(fig)
    return caminho
