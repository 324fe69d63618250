"""<out>/history.html: the history store drawn, one section per benchmark: its chained ratio (the time
relative to the first commit shown, multiplied link by link from the same-run ratios, with its 95% band)
over the commits, each point a link to its commit, the changes `julia perf changes` found marked on it, and
its deterministic counters beside it. Written by `julia perf changes`; static, no script."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt

from julia.perf.engine import changes, history
from julia.perf.engine.charts import BAND, HEAD, THRESHOLD, safe_name
from julia.perf.engine.report import STYLE

PAGE_STYLE = STYLE + (
    "section{display:flex;flex-wrap:wrap;gap:16px;border-top:1px solid #ddd;padding-top:8px}"
    "section>div{flex:1 1 520px;min-width:0}svg{max-width:100%;height:auto}.over{color:#b71c1c}"
)


def render(
    lines: Sequence[dict[str, Any]],
    machine_class: str,
    found: Sequence[changes.Change],
    drifts: Sequence[changes.Drift],
    out: Path,
    commit_url: str | None = None,
) -> Path:
    """Writes <out>/history.html (and its SVG charts under <out>/charts/history-chained/)."""
    charts = out / "charts" / "history-chained"
    charts.mkdir(parents=True, exist_ok=True)
    drift = {d.bench: d for d in drifts}
    sections = []
    for bench in changes.benches(lines):
        chain = changes.links(lines, bench)
        mine = [c for c in found if c.series.startswith(f"{bench}: ")]
        if len(chain) < 2 and not mine:
            continue
        svg = _chart(bench, chain, mine, charts / f"{safe_name(bench)}.svg") if len(chain) >= 2 else ""
        sections.append(_section(bench, chain, mine, drift.get(bench), svg, lines))
    if not sections:
        sections.append(
            "<p class='info'>No benchmark has two same-run ratios yet: runs recorded before the history kept "
            f"them (version {history.VERSION}) show only in the commits below.</p>"
        )
    page = out / "history.html"
    page.write_text(
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>perf history</title>"
        f"<style>{PAGE_STYLE}</style><body><h1>Perf history: {html.escape(machine_class)}</h1>"
        f"<p class='info'>{len(lines)} runs on main, each measured against its parent in the same run: "
        "the chained ratio multiplies those ratios, so no machine drift reaches it. Steps and changes of "
        f"rate at {1 - changes.MAX_PVALUE:.1%} confidence are marked; a point links to its commit.</p>"
        + "".join(sections)
        + _commits(lines, commit_url)
        + "</body></html>"
    )
    return page


def _chart(bench: str, chain: Sequence[changes.Link], found: Sequence[changes.Change], path: Path) -> str:
    """The chained ratio from the first link's base (1.0) with its 95% band, as an inline SVG."""
    values = [1.0, *changes.chained(chain)]
    variance, low, high = 0.0, [1.0], [1.0]
    for link, value in zip(chain, values[1:], strict=True):
        variance += link.log_se**2
        half = changes.Z95 * math.sqrt(variance)
        low.append(value * math.exp(-half))
        high.append(value * math.exp(half))
    commits = [chain[0].base or "?", *(link.commit for link in chain)]
    xs = list(range(len(values)))
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    ax.fill_between(xs, low, high, color=BAND, alpha=0.5, linewidth=0)
    ax.plot(xs, values, color=HEAD, linewidth=1.2)
    points = ax.scatter(xs, values, color=HEAD, s=10, zorder=3)
    points.set_urls([f"#c-{commit}" for commit in commits])
    at = {commit: i for i, commit in enumerate(commits)}
    for change in found:
        if change.kind in ("step", "rate") and change.commit in at:
            ax.axvline(at[change.commit] - 0.5, color=THRESHOLD, linestyle="--", linewidth=1)
            ax.annotate(
                change.describe().split(" (")[0],
                (at[change.commit] - 0.5, max(values)),
                fontsize=6,
                color=THRESHOLD,
                rotation=90,
                va="top",
                ha="right",
            )
    ax.axhline(1.0, color="#999", linewidth=0.6)
    step = max(1, len(xs) // 8)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels([commits[i][:7] for i in xs[::step]], fontsize=6, rotation=30)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel(f"time / {commits[0][:7]}'s", fontsize=7)
    ax.set_title(bench, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    text = path.read_text()
    return text[text.index("<svg") :]  # inline: an <img> would not follow the points' links


def _section(
    bench: str,
    chain: Sequence[changes.Link],
    found: Sequence[changes.Change],
    drift: changes.Drift | None,
    svg: str,
    lines: Sequence[dict[str, Any]],
) -> str:
    head = f"<h2 id='b-{html.escape(safe_name(bench))}'>{html.escape(bench)}</h2>"
    if drift is not None:
        over = " class='over'" if drift.over else ""
        head += (
            f"<p{over}>last {drift.links} commits ({html.escape(drift.first)}..{html.escape(drift.last)}): "
            f"{drift.product:.3f}x (95% {drift.low:.3f}-{drift.high:.3f}), budget {drift.budget:.2f}x"
            + (": past it" if drift.over else "")
            + "</p>"
        )
    listed = "".join(
        f"<li>{html.escape(c.kind)} in {_anchor(c.after_commit)}..{_anchor(c.commit)}: "
        f"{html.escape(c.describe())}, confidence {c.confidence:.4f}"
        + (f" ({html.escape(c.series.split(': ', 1)[1])})" if c.kind in ("counter", "plan") else "")
        + "</li>"
        for c in found
    )
    changes_html = f"<ul>{listed}</ul>" if listed else "<p class='info'>no change found</p>"
    chart = svg or f"<p class='info'>{len(chain)} same-run ratio(s): a chain needs two.</p>"
    return (
        f"<section><div>{head}{chart}</div><div><h3>Changes</h3>{changes_html}"
        f"<h3>Counters</h3>{_counters(bench, lines)}</div></section>"
    )


def _counters(bench: str, lines: Sequence[dict[str, Any]]) -> str:
    """Each counter's first and last value over the history, and how many times it changed."""
    series: dict[str, list[Any]] = {}
    for line in lines:
        for key, value in ((line.get("benches", {}).get(bench) or {}).get("counters") or {}).items():
            series.setdefault(key, []).append(value)
    if not series:
        return "<p class='info'>none recorded</p>"
    rows = "".join(
        f"<tr><td>{html.escape(key)}</td><td class='words'>{html.escape(str(values[0]))}</td>"
        f"<td class='words'>{html.escape(str(values[-1]))}</td>"
        f"<td>{sum(a != b for a, b in pairwise(values))}</td></tr>"
        for key, values in sorted(series.items())
    )
    return f"<table><tr><th>counter</th><th>first</th><th>last</th><th>moves</th></tr>{rows}</table>"


def _anchor(commit: str) -> str:
    return f"<a href='#c-{html.escape(commit)}'>{html.escape(commit)}</a>"


def _commits(lines: Sequence[dict[str, Any]], commit_url: str | None) -> str:
    rows = []
    for line in lines:
        commit = str(line.get("git_commit") or "?")
        shown = html.escape(commit)
        if commit_url:
            shown = f"<a href='{html.escape(commit_url.format(commit))}'>{shown}</a>"
        base = str(line.get("base_commit") or "-")[:7]
        rows.append(
            f"<tr id='c-{html.escape(commit)}'><td>{shown}</td><td>{html.escape(base)}</td>"
            f"<td>{html.escape(str(line.get('started_at') or '-'))}</td>"
            f"<td class='words'>{html.escape(_topology(line))}</td></tr>"
        )
    return (
        "<h2 id='commits'>Commits</h2><table><tr><th>commit</th><th>base</th><th>measured at</th>"
        f"<th>machine, servers</th></tr>{''.join(rows)}</table>"
    )


def _topology(line: dict[str, Any]) -> str:
    servers = line.get("servers") or {}
    parts = [
        str(line.get("machine_class") or ""),
        str(servers.get("origin") or ""),
        str(servers.get("postgres") or ""),
    ]
    return re.sub(r"\s+", " ", ", ".join(p for p in parts if p)) or "-"
