"""The report: a terminal table, and reports/out/index.html with PNG charts (pandas + matplotlib, Agg).

Per benchmark: p50/p95/p99 against its ceiling and the baseline, the ratio to its floor, the latency
distribution, the trend over the stored runs; for a failed benchmark, what changed beside the time
(plan, rows, buffers, pg_stat_statements) next to the baseline's.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from julia.perf.gate import Budgets, Verdict
from julia.perf.results import Run

COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "baseline": "#7f7f7f", "ceiling": "#000000"}


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    rows = []
    for v in verdicts:
        ab = v.ab
        rows.append(
            {
                "benchmark": v.name,
                "n": v.summary.n,
                "p50 ms": v.summary.p50,
                "p95 ms": v.summary.p95,
                "p99 ms": v.summary.p99,
                "max ms": v.summary.max,
                "x floor": _nan(v.ratio_p50),
                "x floor (base)": _nan(v.baseline_ratio_p50),
                "vs base": ab.ratio if ab else math.nan,
                "CI low": ab.low if ab else math.nan,
                "CI high": ab.high if ab else math.nan,
                "detectable": ab.detectable if ab else math.nan,
                "drift": v.drift.time if v.drift else math.nan,
                "status": v.status,
            }
        )
    return pd.DataFrame(rows)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def terminal(verdicts: list[Verdict], run: Run) -> str:
    frame = table(verdicts)
    stamp = run.stamp
    head = (
        f"julia perf: {stamp['doctors']:,} doctors, {stamp['machine_class']}, {stamp['servers']}, "
        f"postgres {stamp['postgres']}, julia {stamp['julia_version']} ({stamp.get('git_commit')})"
        + (f", INJECTED {stamp['injected']}" if stamp.get("injected") else "")
    )
    body = frame.to_string(index=False, float_format=_fmt, na_rep="-")
    problems = [
        f"  {f.severity.upper():4} {v.name}: {f.message}"
        for v in verdicts
        for f in v.findings
        if f.severity in ("fail", "warn")
    ]
    return "\n".join([head, body, *(["findings:", *problems] if problems else [])])


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def render(
    run: Run,
    verdicts: list[Verdict],
    budgets: Budgets,
    baseline: Run | None,
    history: list[dict[str, Any]],
    out: Path,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    measured = [v for v in verdicts if v.summary.n]
    charts = [
        _percentiles(measured, budgets, out / "percentiles.png"),
        _ratios(measured, budgets, out / "ratios.png"),
        _distributions(run, baseline, out / "distributions.png"),
        _trend(history, out / "trend.png"),
    ]
    scale = out / "scale.png"
    if scale.is_file():
        charts.append(scale)
    page = out / "index.html"
    page.write_text(_html(run, verdicts, baseline, [c for c in charts if c is not None]))
    return page


def _labels(verdicts: list[Verdict]) -> list[str]:
    return [v.name.removeprefix("query_") for v in verdicts]


def _percentiles(verdicts: list[Verdict], budgets: Budgets, path: Path) -> Path:
    """p50/p95/p99 per benchmark on a log axis, with the baseline's p50 and the business ceiling."""
    y = np.arange(len(verdicts))
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(verdicts) + 1.6))
    for offset, key in ((-0.25, "p50"), (0.0, "p95"), (0.25, "p99")):
        ax.barh(
            y + offset, [getattr(v.summary, key) for v in verdicts], height=0.25, color=COLORS[key], label=key
        )
    base = [(i, v.baseline_summary.p50) for i, v in enumerate(verdicts) if v.baseline_summary]
    if base:
        ax.scatter(
            [b for _, b in base],
            [i - 0.25 for i, _ in base],
            marker="|",
            s=200,
            color=COLORS["baseline"],
            label="baseline p50",
            zorder=3,
        )
    _mark_limits(ax, verdicts, budgets, "ceiling_ms", "ceiling (p99 budget)")
    ax.set_xscale("log")
    ax.set_yticks(y, _labels(verdicts), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms (log)")
    ax.set_title("Latency per benchmark: p50 / p95 / p99 against baseline and ceiling")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _mark_limits(ax: Any, verdicts: list[Verdict], budgets: Budgets, field: str, label: str) -> None:
    """An x on each benchmark's row at its budget for `field` (rows without one get none)."""
    limits = [(i, b) for i, v in enumerate(verdicts) if (b := _budget(budgets, v.name, field))]
    if limits:
        ax.scatter(
            [b for _, b in limits],
            [i for i, _ in limits],
            marker="x",
            color=COLORS["ceiling"],
            label=label,
            zorder=3,
        )


def _budget(budgets: Budgets, name: str, field: str) -> float | None:
    budget = budgets.benches.get(name)
    value = getattr(budget, field) if budget else None
    return float(value) if value is not None else None


def _ratios(verdicts: list[Verdict], budgets: Budgets, path: Path) -> Path:
    """p50 as a multiple of its floor's p50, now and in the baseline, with the ratio budget."""
    chosen = [v for v in verdicts if v.ratio_p50 is not None]
    y = np.arange(len(chosen))
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(chosen) + 1.6))
    ax.barh(y - 0.2, [v.ratio_p50 or 0 for v in chosen], height=0.4, color=COLORS["p50"], label="this run")
    ax.barh(
        y + 0.2,
        [v.baseline_ratio_p50 or 0 for v in chosen],
        height=0.4,
        color=COLORS["baseline"],
        label="baseline",
    )
    _mark_limits(ax, chosen, budgets, "ratio_p50", "ratio budget")
    ax.set_yticks(y, _labels(chosen), fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("median ratio to the floor (x, log)")
    ax.set_title("Cost relative to the floor (warm: SELECT 1 prepared; cold: SELECT 1 on a fresh connection)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    return _save(fig, path)


def _distributions(run: Run, baseline: Run | None, path: Path) -> Path:
    """Box plots of every raw sample (whiskers at p1/p99), this run beside the baseline."""
    names = list(run.benches)
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(names) + 1.6))
    current = [run.benches[n].samples_ms for n in names]
    ax.boxplot(
        current,
        positions=np.arange(len(names)) * 2.0,
        vert=False,
        whis=(1, 99),
        widths=0.7,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "#aec7e8"},
    )
    if baseline:
        pairs = [(i, baseline.benches[n].samples_ms) for i, n in enumerate(names) if n in baseline.benches]
        if pairs:
            ax.boxplot(
                [s for _, s in pairs],
                positions=[i * 2.0 + 0.8 for i, _ in pairs],
                vert=False,
                whis=(1, 99),
                widths=0.5,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": "#d9d9d9"},
            )
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(names)) * 2.0 + 0.4, [n.removeprefix("query_") for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms (log); blue: this run, grey: baseline; whiskers p1-p99")
    ax.set_title("Latency distributions")
    ax.grid(axis="x", which="both", alpha=0.3)
    return _save(fig, path)


def _trend(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Each benchmark's median ratio to its floor over the stored runs of this machine class."""
    if len(history) < 2:
        return None
    frame = pd.DataFrame(
        [
            {"run": i, "benchmark": name.removeprefix("query_"), "ratio": b.get("ratio_p50")}
            for i, line in enumerate(history)
            for name, b in line["benches"].items()
            if b.get("ratio_p50") is not None
        ]
    )
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, cold in zip(axes, (False, True), strict=True):
        chosen = frame[frame["benchmark"].str.endswith("_cold") == cold]
        colors = plt.get_cmap("tab20")
        for k, (name, group) in enumerate(chosen.groupby("benchmark")):
            ax.plot(
                group["run"],
                group["ratio"],
                marker="o",
                markersize=3,
                color=colors(k % 20),
                label=str(name).removesuffix("_cold").removesuffix("_warm"),
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("stored run (oldest first)")
        ax.set_title("cold (first execution)" if cold else "warm, and the queue")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("median ratio to the floor (x, log)")
    fig.suptitle("Trend over the stored runs of this machine class")
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _html(run: Run, verdicts: list[Verdict], baseline: Run | None, charts: list[Path]) -> str:
    frame = table(verdicts)
    status = "FAILED" if any(v.failed for v in verdicts) else "passed"
    stamp = pd.DataFrame(sorted((k, _stamp_text(k, v)) for k, v in run.stamp.items()), columns=["", ""])
    parts = [
        "<!doctype html><meta charset='utf-8'><title>julia perf</title>",
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child{text-align:left}"
        ".FAIL{background:#fdd}pre{background:#f6f6f6;padding:8px}</style>",
        f"<h1>julia perf: gate {status}</h1>",
        stamp.to_html(index=False, header=False),
        "<h2>Benchmarks</h2>",
        frame.to_html(index=False, float_format=_fmt, na_rep="-").replace(
            "<td>FAIL</td>", "<td class='FAIL'>FAIL</td>"
        ),
        "<p>x floor: the median ratio of each sample to its floor (the floor measured beside it when "
        "paired, else the floor's p50 in the same run). vs base: the head's time over the base's, "
        "measured in this run in alternating turns (Hodges-Lehmann over block pairs, with its 95% "
        "interval); a "
        "regression fails when the whole interval lies above the benchmark's threshold; detectable: the "
        "smallest slowdown this run could catch. drift: the median against the stored baseline's, "
        "another run on maybe another machine: information only (perf/README.md).</p>",
    ]
    parts += _counters_html(run)
    parts += _findings_html(run, verdicts, baseline)
    parts += [f"<h2>{html.escape(c.stem)}</h2><img src='{c.name}' alt='{c.stem}'>" for c in charts]
    return "\n".join(parts)


def _stamp_text(key: str, value: Any) -> str:
    """One readable line per stamp entry; the seed summary (a dict in results.json) in words."""
    if key == "seed" and isinstance(value, dict) and "rows" in value:
        rows = ", ".join(f"{table} {count:,}" for table, count in value["rows"].items())
        return (
            f"seed {value.get('seed')}, today {value.get('today')}, {value.get('seconds', 0):.1f} s, "
            f"checksum {str(value.get('checksum', ''))[:12]}: {rows}"
        )
    return str(value)


def _counters_html(run: Run) -> list[str]:
    """What the database did, independent of the machine: rows, buffers, plan, pg_stat_statements."""
    rows = []
    for bench in run.benches.values():
        c = bench.counters
        if "plan_nodes" not in c:
            continue
        pgss = c.get("pgss", {})
        rows.append(
            {
                "benchmark": bench.name,
                "rows": c.get("rows"),
                "buffers": c.get("buffers"),
                "plan": _show(c.get("plan_nodes")),
                "calls": pgss.get("calls"),
                "rows/call": pgss.get("rows_per_call"),
                "blocks/call": pgss.get("blocks_per_call"),
                "exec ms (server)": pgss.get("mean_exec_ms"),
            }
        )
    parts = []
    if rows:
        parts += [
            "<h2>Cost counters</h2><p>rows: the most any sampled key returned; buffers: shared hit + read of "
            "the worst sampled key (EXPLAIN ANALYZE, BUFFERS); calls to exec ms: pg_stat_statements over "
            "the whole run.</p>",
            pd.DataFrame(rows).to_html(index=False, na_rep="-"),
        ]
    return parts + _round_trips_html(run)


def _round_trips_html(run: Run) -> list[str]:
    """What one call or one message costs in round trips, counted by the servers; hard-gated."""
    rows = [
        {
            "benchmark": bench.name,
            "SQL statements": bench.counters["pg_statements"],
            "pool round trips": bench.counters.get("pg_pool_resets"),
            "Redis commands": bench.counters.get("redis_commands"),
            "counted over": bench.counters.get("units_counted"),
        }
        for bench in run.benches.values()
        if "pg_statements" in bench.counters
    ]
    if not rows:
        return []
    return [
        "<h2>Round trips per call or message</h2><p>Counted by the servers (pg_stat_statements, Valkey "
        "INFO commandstats), the most common value over the calls counted. A count above its budget or "
        "its baseline fails the gate, whatever the time did.</p>",
        pd.DataFrame(rows).to_html(index=False, na_rep="-"),
    ]


def _findings_html(run: Run, verdicts: list[Verdict], baseline: Run | None) -> list[str]:
    """For every failed or warned benchmark: the findings, then its counters beside the baseline's."""
    parts: list[str] = []
    for v in verdicts:
        problems = [f for f in v.findings if f.severity in ("fail", "warn")]
        if not problems:
            continue
        parts.append(f"<h3>{html.escape(v.name)}: {v.status}</h3><ul>")
        parts += [f"<li>{f.severity} {f.check}: {html.escape(f.message)}</li>" for f in problems]
        parts.append("</ul>")
        now = run.benches[v.name].counters if v.name in run.benches else {}
        before = baseline.benches[v.name].counters if baseline and v.name in baseline.benches else {}
        same = [k for k in ("plan_nodes", "rows", "buffers") if k in now and now.get(k) == before.get(k)]
        if v.ab and v.ab.outcome == "regressed" and len(same) == 3:
            parts.append(
                "<p>Plan, rows and buffers are the baseline's: the time went outside the database's "
                "work (julia's code, the driver, or the machine).</p>"
            )
        keys = sorted(set(now) | set(before))
        if keys:
            rows = pd.DataFrame(
                [
                    {"counter": k, "this run": _show(now.get(k)), "baseline": _show(before.get(k))}
                    for k in keys
                ]
            )
            parts.append(rows.to_html(index=False, escape=True))
    return ["<h2>What changed beside the time</h2>", *parts] if parts else []


def _show(value: Any) -> str:
    if isinstance(value, list):
        return " > ".join(map(str, value))
    return "-" if value is None else str(value)
