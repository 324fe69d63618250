"""The report's PNG charts (matplotlib, Agg): small, one question each, sized to sit in a 1400 px page.

- `evidence`: one benchmark's block pairs, head/base per pair, with the verdict's interval and threshold
  (or, with too few pairs for an interval, the two sides' distributions);
- `drift`: each benchmark's median against the stored baseline's (information, another run);
- `history`: one small chart per benchmark over the stored runs, x = commit and date, as asv draws them.
Legends sit outside the axes, never over the data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter

from julia.perf.engine import stats
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Bench

DPI = 100
HEAD, BASE, THRESHOLD, BAND = "#1f77b4", "#7f7f7f", "#d62728", "#aec7e8"
HISTORY_TICKS = 3  # commit labels per small chart: more overlap at 330 px


def evidence(v: Verdict, head: Bench, base: Bench | None, path: Path) -> Path:
    if base is not None and head.blocks and base.blocks:
        logs = stats.pair_log_ratios(  # paired exactly as the verdict pairs them (julia.perf.engine.gate)
            stats.split_blocks(head.samples_ms, head.blocks),
            stats.split_blocks(base.samples_ms, base.blocks),
            head.rounds,
            base.rounds,
        )
        if len(logs) >= stats.MIN_PAIRS:
            return _pairs(v, np.exp(logs), path)
    return _sides(head, base, path)


def _pairs(v: Verdict, ratios: np.ndarray[Any, Any], path: Path) -> Path:
    """Each block pair's head/base median ratio; the estimate, its 95% interval and the threshold."""
    fig, ax = plt.subplots(figsize=(6.6, 2.9))
    x = np.arange(1, ratios.size + 1)
    ab = v.ab
    if ab is not None and math.isfinite(ab.low) and math.isfinite(ab.high) and ab.low > 0:
        ax.axhspan(ab.low, ab.high, color=BAND, alpha=0.6, label="95% interval")
    if ab is not None and math.isfinite(ab.ratio):
        ax.axhline(ab.ratio, color=HEAD, linewidth=1.5, label=f"estimate {ab.ratio:.2f}x")
        ax.axhline(ab.threshold, color=THRESHOLD, linestyle="--", label=f"threshold {ab.threshold:g}x")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.scatter(x, ratios, s=14, color="black", zorder=3, label="block pair")
    # Linear: the ratios of one benchmark span a narrow range, where a log axis would label one tick.
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:.2f}x"))
    ax.set_xlabel("block pair (turn)")
    ax.set_ylabel("head / base")
    ax.set_title(f"{v.name}: head/base median per block pair", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)


def _sides(head: Bench, base: Bench | None, path: Path) -> Path:
    """Head beside base as box plots (whiskers p1-p99), when there are no block pairs to show."""
    fig, ax = plt.subplots(figsize=(6.6, 1.9 if base else 1.4))
    data = [head.samples_ms, *([base.samples_ms] if base else [])]
    labels = ["head", *(["base"] if base else [])]
    ax.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=False, widths=0.6)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xlabel("latency, ms; whiskers p1-p99")
    ax.set_title(f"{head.name}: head and base samples", fontsize=9)
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, path)


def drift(verdicts: list[Verdict], path: Path) -> Path | None:
    """Median now / median in the stored baseline, per benchmark: a dot each, 1x marked."""
    chosen = [v for v in verdicts if v.drift is not None]
    if not chosen:
        return None
    fig, ax = plt.subplots(figsize=(8.0, 0.2 * len(chosen) + 1.0))
    y = np.arange(len(chosen))
    ax.scatter([v.drift.time for v in chosen if v.drift], y, s=16, color=BASE, zorder=3)
    ax.axvline(1.0, color="black", linewidth=0.6)
    ax.set_yticks(y, [v.name for v in chosen], fontsize=7)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.2f}x"))
    ax.set_xlabel("median / the stored baseline's median: information, not a verdict")
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, path)


def history(lines: list[dict[str, Any]], out: Path) -> list[tuple[str, Path]]:
    """One small chart per benchmark: its p50 in ms over the stored runs, from zero (so a step reads as
    its true size), the x axis labelled with a few commits and their dates. Nothing under two runs."""
    if len(lines) < 2:
        return []
    names = sorted({name for line in lines for name in line.get("benches", {})})
    ticks = _ticks(lines)
    charts = []
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        points = [
            (i, b["p50"])
            for i, line in enumerate(lines)
            if (b := line.get("benches", {}).get(name)) and b.get("p50") is not None
        ]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(3.3, 2.1))
        ax.plot(*zip(*points, strict=True), color=HEAD, marker="o", markersize=2.5, linewidth=1.2)
        ax.set_ylim(bottom=0, top=max(p for _, p in points) * 1.15)
        ax.xaxis.set_major_locator(FixedLocator([t for t, _ in ticks]))
        ax.set_xticklabels([label for _, label in ticks], fontsize=6)
        ax.set_xlim(-0.5, len(lines) - 0.5)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylabel("p50, ms", fontsize=7)
        ax.set_title(name, fontsize=7)
        ax.grid(alpha=0.3)
        charts.append((name, _save(fig, out / f"{safe_name(name)}.png")))
    return charts


def safe_name(name: str) -> str:
    """A benchmark's name as a file name."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def _ticks(lines: list[dict[str, Any]]) -> list[tuple[int, str]]:
    picks = sorted({round(float(i)) for i in np.linspace(0, len(lines) - 1, min(HISTORY_TICKS, len(lines)))})
    return [(i, _commit_label(lines[i])) for i in picks]


def _commit_label(line: dict[str, Any]) -> str:
    commit = str(line.get("git_commit") or "?")[:7]
    day = str(line.get("started_at") or "")[:10]
    return f"{commit}\n{day}" if day else commit


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
