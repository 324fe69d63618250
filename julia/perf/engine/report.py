"""The report of a gated run: a terminal table, and in reports/out/ the page index.html (with its PNGs), the
Markdown summary summary.md (julia.perf.engine.summary), pytest-benchmark.json and bencher.json
(julia.perf.engine.export).

The page tells its story top down: a banner with the verdict, the counts, what the head was compared
against and the likely cause of each benchmark explained (julia.perf.engine.causes); then each failed,
inconclusive, warned or asked-for benchmark with its evidence (the A/B interval against its threshold,
what the run could detect, the counters beside the base's, the server's own time beside the round trip,
the ranked causes, the statements, Redis commands and plan nodes that moved: julia.perf.engine.diff) and
its chart; then every benchmark in one table with the reason for its status; the cost
counters; the drift from the stored baseline (information only); the history per benchmark; the stamp.
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from julia.perf.engine import (
    causes,
    charts,
    deps,
    diff,
    export,
    memory_report,
    over_time,
    profile,
    stats,
    summary,
    words,
)
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Bench, Run, project_of

# Counters compared head against base in a benchmark's evidence, in the order a reader checks them.
EVIDENCE_COUNTERS = (
    "plan_nodes",
    "rows",
    "buffers",
    "pg_statements",
    "pg_pool_resets",
    "redis_commands",
    "errors",
    "distinct_plans",
)
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:0 16px 32px;max-width:1360px;color:#222}
table{border-collapse:collapse;width:100%;margin:6px 0 14px}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
td.words,th.words{text-align:left;white-space:normal;overflow-wrap:anywhere}
img{max-width:100%;height:auto}
.banner{padding:12px 18px;margin:0 -16px 16px;color:#fff}.banner h1{margin:0 0 4px;font-size:26px}
.banner p{margin:2px 0}.banner.FAILED{background:#b71c1c}.banner.passed{background:#2e7d32}
.counts{font-size:18px;font-weight:600}
.FAIL{background:#fde0e0}.inconclusive{background:#fff3cd}.warn{background:#fff8e1}
article{border:1px solid #ddd;border-left:6px solid #999;padding:4px 14px 10px;margin:0 0 14px}
article.FAIL{border-left-color:#b71c1c;background:#fff}article.inconclusive{border-left-color:#e0a800;background:#fff}
.evidence{display:flex;flex-wrap:wrap;gap:16px}.evidence>div{flex:1 1 560px;min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:6px}
.info{color:#555}.glance{padding-left:0;list-style:none}.glance li{padding:2px 8px;margin:2px 0}
.causes{margin:6px 0 2px;padding-left:20px}
.causes code,.ranked code{overflow-wrap:anywhere;white-space:normal}
tr.first td{font-weight:600;border-top:2px solid #b71c1c;border-bottom:2px solid #b71c1c}
"""


@dataclass(frozen=True)
class Rendered:
    page: Path
    summary: Path
    export: Path
    bencher: Path


def table(verdicts: list[Verdict]) -> pd.DataFrame:
    rows = []
    for v in words.ordered(verdicts):
        ab = v.ab
        rows.append(
            {
                "benchmark": v.name,
                "status": v.status,
                "n": v.summary.n,
                "p50 ms": v.summary.p50,
                "p99 ms": v.summary.p99,
                "x floor": _nan(v.ratio_p50),
                "vs base": ab.ratio if ab else math.nan,
                "CI low": ab.low if ab else math.nan,
                "CI high": ab.high if ab else math.nan,
                "50% power": ab.detectable if ab else math.nan,
                "80% power": ab.detectable_80 if ab else math.nan,
                "drift": v.drift.time if v.drift else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def terminal(verdicts: list[Verdict], run: Run, explain: Sequence[str] = ()) -> str:
    """The summary table, why each benchmark that needs a look has its status, and its likely cause.
    `explain`: benchmarks to find a cause for whatever their status (`julia perf gate --explain`)."""
    stamp = run.stamp
    name = project_of(stamp)["name"]
    tally = words.counts(verdicts)
    head = (
        f"{words.title(stamp)} {'passed' if tally.passed else 'FAILED'}: {tally.text()}\n"
        f"{words.ab_context(run)}; {words.scale(stamp)}, {stamp.get('machine_class')}, "
        f"postgres {stamp.get('postgres')}, {name} {stamp.get(f'{name}_version')}"
        + (f", INJECTED {stamp['injected']}" if stamp.get("injected") else "")
    )
    body = table(verdicts).to_string(index=False, float_format=fmt, na_rep="-")
    problems = [
        f"  {v.status:12} {v.name}: {words.reason(v)}"
        for v in words.ordered(verdicts)
        if v.status in ("FAIL", "inconclusive", "warn")
    ]
    likely = [f"  {c.status:12} {c.name}: {c.line}" for c in causes.explain(run, verdicts, explain).values()]
    return "\n".join(
        [
            head,
            body,
            *(["why:", *problems] if problems else []),
            *(["likely cause:", *likely] if likely else []),
        ]
    )


def fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def render(
    run: Run,
    verdicts: list[Verdict],
    baseline: Run | None,
    history: list[dict[str, Any]],
    out: Path,
    calibration: dict[str, Any] | None = None,
    explain: Sequence[str] = (),
    uncalibrated: str = "",
) -> Rendered:
    """index.html (and its charts), summary.md, pytest-benchmark.json and bencher.json, all under `out`.
    `calibration`: the machine class's perf/calibration file, whose A/A runs tell each verdict's accuracy;
    `explain`: benchmarks whose causes are shown whatever their status; `uncalibrated`: the line a run on a
    class without a calibration says first."""
    out.mkdir(parents=True, exist_ok=True)
    explained = causes.explain(run, verdicts, explain)
    page = out / "index.html"
    page.write_text(_page(run, verdicts, baseline, history, out, calibration, explained, uncalibrated))
    notes = out / "summary.md"
    notes.write_text(summary.markdown(run, verdicts, explained, uncalibrated))
    return Rendered(
        page,
        notes,
        export.write(run, verdicts, out / "pytest-benchmark.json"),
        export.write_bencher(run, verdicts, out / "bencher.json"),
    )


def _page(
    run: Run,
    verdicts: list[Verdict],
    baseline: Run | None,
    history: list[dict[str, Any]],
    out: Path,
    calibration: dict[str, Any] | None,
    explained: dict[str, causes.Cause],
    uncalibrated: str,
) -> str:
    charts_dir = out / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>perf</title>",
        f"<style>{STYLE}</style><body>",
        _banner(run, verdicts, explained, uncalibrated),
        *_attention(run, verdicts, charts_dir, out, explained),
        *_all_table(verdicts, calibration),
        *_load_runs(run, verdicts, charts_dir / "load", out),
        *_counters(run),
        *memory_report.section(run, verdicts, html_table),
        *_harness_share(run),
        *_drift(verdicts, baseline, charts_dir, out),
        *_history(history, charts_dir / "history", out),
        *_scale(out),
        "<h2 id='stamp'>This run</h2>",
        html_table(
            ["", ""],
            [[label, value] for label, value in words.stamp_rows(run.stamp)],
            header=False,
            words_columns=(1,),
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


def _banner(
    run: Run, verdicts: list[Verdict], explained: dict[str, causes.Cause], uncalibrated: str = ""
) -> str:
    tally = words.counts(verdicts)
    verdict = "passed" if tally.passed else "FAILED"
    stamp = run.stamp
    injected = (
        f"<p><strong>injected regression: {_e(stamp['injected'])}</strong></p>"
        if stamp.get("injected")
        else ""
    )
    return (
        f"<header class='banner {verdict}' id='verdict'><h1>{_e(words.title(stamp))} {verdict}</h1>"
        f"<p class='counts'>{_e(tally.text())}</p>"
        f"<p>{_e(words.ab_context(run))}</p>"
        f"<p>{_e(words.scale(stamp))} on {_e(stamp.get('machine_class'))}, postgres "
        f"{_e(stamp.get('postgres'))}, started {_e(stamp.get('started_at'))}</p>{injected}"
        + (f"<p><strong>{_e(uncalibrated)}</strong></p>" if uncalibrated else "")
        + f"{_cause_lines(explained)}</header>"
    )


def _cause_lines(explained: dict[str, causes.Cause]) -> str:
    """The banner's likely cause of each benchmark explained, one line each."""
    if not explained:
        return ""
    items = "".join(
        f"<li><strong>{_e(c.name)}</strong> ({_e(c.status)}): {_code(c.line)}</li>"
        for c in explained.values()
    )
    return f"<p>Likely cause:</p><ul class='causes'>{items}</ul>"


def _code(line: str) -> str:
    """A cause line escaped, its `statement` spans set as code."""
    parts = line.split("`")
    return "".join(f"<code>{_e(p)}</code>" if i % 2 else _e(p) for i, p in enumerate(parts))


def _attention(
    run: Run, verdicts: list[Verdict], charts_dir: Path, out: Path, explained: dict[str, causes.Cause]
) -> list[str]:
    """Each failed, inconclusive or warned benchmark (and each asked for by name) with its evidence, its
    likely causes and one chart."""
    chosen = [
        v for v in words.ordered(verdicts) if v.status in ("FAIL", "inconclusive") or v.name in explained
    ]
    if not chosen:
        return ["<p>No benchmark failed or was inconclusive.</p>"]
    # At a glance first, linked to each one's evidence: the story before the details.
    glance = "".join(
        f"<li class='{v.status}'><a href='#{charts.safe_name(v.name)}'>{_e(v.name)}</a> {_e(v.status)}: "
        f"{_e(words.reason(v))}</li>"
        for v in chosen
    )
    parts = [f"<h2 id='attention'>What to look at</h2><ul class='glance'>{glance}</ul>"]
    for v in chosen:
        head = run.benches.get(v.name)
        base = run.base.benches.get(v.name) if run.base else None
        anchor = charts.safe_name(v.name)
        parts.append(f"<article class='{v.status}' id='{anchor}'><h3>{_e(v.name)}: {_e(v.status)}</h3>")
        parts.append(f"<p><strong>{_e(words.reason(v))}</strong></p><div class='evidence'><div>")
        parts.append(_ab_table(v))
        if head is not None:
            parts.append(f"<p>{_e(words.blame(v, head, base))}</p>")
        # The failures and the inconclusive interval are the reason above; the other warnings follow.
        others = [f for f in v.findings if f.severity == "warn" and f.check != "inconclusive"]
        if others:
            parts.append(
                "<ul>" + "".join(f"<li>{_e(f.check)}: {_e(f.message)}</li>" for f in others) + "</ul>"
            )
        parts.append("</div><div>")
        if head is not None:
            chart = charts.evidence(v, head, base, charts_dir / f"{anchor}.png")
            parts.append(_img(chart, out, f"{v.name}: head against base"))
            parts.append(_counter_diff(head.counters, base.counters if base else None))
        parts.append("</div></div>")
        parts += _why(explained.get(v.name), head, base, run)
        parts.append("</article>")
    return parts


def _why(cause: causes.Cause | None, head: Bench | None, base: Bench | None, run: Run) -> list[str]:
    """The ranked causes, then the diffs they were read from: statements, Redis commands, plan nodes."""
    if cause is None:
        return []
    ranked = "".join(
        f"<li>{_code(e.line)} <span class='info'>({_e(e.kind)})</span></li>" for e in cause.candidates
    )
    parts = [
        "<h4>Why: the likely causes, most likely first</h4>",
        f"<ol class='ranked'>{ranked}</ol>" if ranked else f"<p>{_e(causes.NOTHING)}.</p>",
    ]
    if head is None or base is None:
        return parts
    moved = diff.statements(head.counters, base.counters)
    if moved:
        parts += ["<h4>Statements per unit that moved, head against base</h4>", _statement_table(moved)]
    elif moved is None and head.counters.get("pg_statements") is not None:
        parts.append(
            "<p class='info'>No per-statement evidence on both sides (a base from before it was kept).</p>"
        )
    redis = diff.commands(head.counters, base.counters)
    if redis:
        rows = [[c.name.upper(), c.change, str(c.head), str(c.base)] for c in redis]
        parts += [
            "<h4>Redis commands per unit that moved</h4>",
            html_table(["command", "change", "head", "base"], rows),
        ]
    plan = diff.plan(head.counters, base.counters)
    if plan is not None:
        parts += ["<h4>The plan, node by node (head | base)</h4>", _plan_table(plan)]
    generic = diff.plan(diff.generic(head.counters), diff.generic(base.counters))
    if generic is not None:
        ran = (
            "the one most timed calls ran"
            if diff.ran_generic(head.counters)
            else "not the one the timed calls ran"
        )
        parts += [f"<h4>The generic plan, node by node (head | base): {ran}</h4>", _plan_table(generic)]
    if head.profile and base.profile:
        parts += _profile_parts(profile.rows(head.profile, base.profile))
    changes = (run.stamp.get("ab") or {}).get("dependencies")
    if changes:
        parts.append(f"<p>Dependencies, head against base: {_e(deps.summary(changes, most=50))}</p>")
    return parts


def _profile_parts(table: list[profile.Row]) -> list[str]:
    """Each side's CPU profile of its units (julia.perf.engine.profile), the busiest functions and every
    one the cause lines name (bold), as a differential chart and a table."""
    rows = [
        [
            r.function + (" (named)" if r.named else ""),
            f"{r.base_us:.1f}",
            f"{r.head_us:.1f}",
            f"{r.head_us - r.base_us:+.1f}",
            f"{r.low:+.1f}..{r.high:+.1f}",
            f"{r.base_calls:g} -> {r.head_calls:g}",
        ]
        for r in table
    ]
    return [
        "<h4>CPU per unit by function, head against base (profiled after the timed blocks)</h4>",
        f"<div class='profile'>{profile.svg(table)}</div>",
        html_table(["function", "base self us", "head self us", "change", "every chunk pair", "calls"], rows),
    ]


def _statement_table(moved: list[diff.Statement]) -> str:
    rows, classes = [], []
    for s in moved:
        figures = [
            f"{diff.per_unit((s.head or {}).get(f, 0.0))} / {diff.per_unit((s.base or {}).get(f, 0.0))}"
            for f in diff.FIGURES
        ]
        rows.append([s.change, diff.brief(s.query, 240), s.source or "-", *figures])
        classes.append("warn" if s.change == "changed" else "FAIL")
    headers = [
        "change",
        "statement (normalized)",
        "the project's SQL",
        "calls head / base",
        "rows",
        "shared blocks",
    ]
    return html_table(headers, rows, classes, words_columns=(1, 2))


def _generic_cell(counters: dict[str, Any]) -> str:
    """Which plan the timed calls ran, and the generic one's nodes and buffers when it is not the custom's."""
    ran = counters.get("plans_run")
    if not ran:
        return ""
    generic = diff.generic(counters)
    kind = "generic" if diff.ran_generic(counters) else "custom"
    said = f"{kind} ({ran.get('generic', 0):,} generic, {ran.get('custom', 0):,} custom)"
    if generic.get("plan_nodes") and generic["plan_nodes"] != counters.get("plan_nodes"):
        said += f"; generic plan: {' > '.join(generic['plan_nodes'])}, {generic.get('buffers')} buffers"
    return said


def _plan_table(plan: diff.PlanDiff) -> str:
    rows, classes = [], []
    for row in plan.rows:
        rows.append([*_node_cells(row.head), *_node_cells(row.base), "first difference" if row.first else ""])
        classes.append("first" if row.first else "warn" if row.differs else "")
    side = ["rows est.", "rows actual", "loops", "buffers"]
    headers = ["head node", *side, "base node", *side, ""]
    return html_table(headers, rows, classes, words_columns=(0, 5))


def _node_cells(node: dict[str, Any] | None) -> list[str]:
    if node is None:
        return ["-", "", "", "", ""]
    indent = "\u00a0\u00a0" * int(node.get("depth", 0))
    figures = [node.get("rows_estimated"), node.get("rows_actual"), node.get("loops")]
    return [indent + diff.describe(node), *(words.words(f) for f in figures), str(diff.blocks(node))]


def _ab_table(v: Verdict) -> str:
    ab = v.ab
    if ab is None:
        return "<p>No same-run A/B comparison for this benchmark.</p>"
    rows = [
        ["head / base (Hodges-Lehmann over block pairs)", words.fmt_x(ab.ratio)],
        ["95% interval", words.interval(ab)],
        ["threshold (fails when the whole interval is above)", f"{ab.threshold:g}x"],
        ["slowdown this run catches half the time (50% power)", words.fmt_x(ab.detectable)],
        ["slowdown this run catches 4 times in 5 (80% power)", words.fmt_x(ab.detectable_80)],
        ["block pairs", str(ab.pairs)],
    ]
    if v.base_summary is not None:
        rows.append(["p50 head / base, ms", f"{_num(v.summary.p50)} / {_num(v.base_summary.p50)}"])
    return html_table(["A/B in this run", ""], rows)


def _counter_diff(now: dict[str, Any], before: dict[str, Any] | None) -> str:
    keys = [k for k in EVIDENCE_COUNTERS if k in now or (before and k in before)]
    now_pgss, before_pgss = now.get("pgss") or {}, (before or {}).get("pgss") or {}
    rows, classes = [], []
    for key in keys:
        a, b = now.get(key), (before or {}).get(key)
        rows.append(
            [key.replace("_", " "), words.words(a), words.words(b) if before is not None else "no base"]
        )
        classes.append("warn" if before is not None and a != b else "")
    for key in ("mean_exec_ms", "calls", "rows_per_call", "blocks_per_call"):
        if key in now_pgss or key in before_pgss:
            a, b = now_pgss.get(key), before_pgss.get(key)
            rows.append([f"server {key.replace('_', ' ')}", words.words(a), words.words(b)])
            classes.append("warn" if key != "calls" and _moved(a, b) else "")
    if not rows:
        return ""
    return html_table(["counter", "head", "base"], rows, classes, words_columns=(1, 2))


def _moved(now: Any, before: Any) -> bool:
    """A server-side figure that moved beyond noise (julia.perf.engine.words.SERVER_MOVED, either way)."""
    if not isinstance(now, int | float) or not isinstance(before, int | float) or now <= 0 or before <= 0:
        return False
    return max(now / before, before / now) > words.SERVER_MOVED


def _all_table(verdicts: list[Verdict], calibration: dict[str, Any] | None) -> list[str]:
    rows, classes = [], []
    for v in words.ordered(verdicts):
        ab = v.ab
        rows.append(
            [
                v.name,
                v.status,
                words.reason(v),
                _num(v.summary.p50),
                _num(v.summary.p99),
                _num(v.ratio_p50),
                words.fmt_x(ab.ratio) if ab and math.isfinite(ab.ratio) else "-",
                words.interval(ab) if ab else "-",
                words.fmt_x(ab.detectable) if ab else "-",
                words.fmt_x(ab.detectable_80) if ab else "-",
                *_calibrated(calibration, v),
            ]
        )
        classes.append(v.status if v.status != "ok" else "")
    headers = [
        "benchmark",
        "status",
        "why",
        "p50 ms",
        "p99 ms",
        "x floor",
        "head/base",
        "95% CI",
        "50% power",
        "80% power",
        "A/A fails",
        "1.2x caught",
    ]
    return [
        "<h2 id='all'>All benchmarks</h2>",
        html_table(headers, rows, classes, words_columns=(2,)),
        "<p class='info'>x floor: the median ratio of a sample to its floor measured beside it. head/base: "
        "the head's time over the base's measured in this run in alternating turns (Hodges-Lehmann over "
        "block pairs, with its 95% interval); a benchmark fails when the whole interval lies above its "
        "threshold. 50% power / 80% power: the slowdown this run's spread would have failed half the time "
        "/ 4 times in 5 (a head slower by less is more often inconclusive than failed).</p>",
        f"<p class='info'>{_e(_calibration_note(calibration))}</p>",
    ]


def _calibrated(calibration: dict[str, Any] | None, verdict: Verdict) -> list[str]:
    """The gate's measured accuracy for this benchmark at this run's threshold: how many of the
    calibration's A/A runs it would have failed, and how many a 1.2x slowdown it would have caught."""
    bench = (calibration or {}).get("benches", {}).get(verdict.name)
    if not bench or verdict.ab is None or not bench.get("aa_intervals"):
        return ["-", "-"]
    lows = [interval[1] for interval in bench["aa_intervals"]]
    threshold, runs = verdict.ab.threshold, len(lows)
    return [
        f"{stats.caught_at(lows, threshold)}/{runs}",
        f"{stats.caught_at(lows, threshold, 1.2)}/{runs}",
    ]


def _calibration_note(calibration: dict[str, Any] | None) -> str:
    if not calibration:
        return "No calibration for this machine class: `nox -s perf-calibrate` measures the gate's accuracy."
    return (
        f"A/A fails and 1.2x caught: of the {calibration.get('runs')} A/A runs of "
        f"perf/calibration/{calibration.get('machine_class')}.json (commit {calibration.get('git_commit')}, "
        f"{calibration.get('when')}), how many each benchmark's threshold in this run would have failed, and "
        "would have failed with the head 1.2x slower (each run's interval moved by 1.2x)."
    )


def _load_runs(run: Run, verdicts: list[Verdict], charts_dir: Path, out: Path) -> list[str]:
    """Benchmarks that say what they measured (`said`: a load run of the real processes, measured apart
    from the turns): their verdict in the gate's words, then their own lines and likely cause, and each
    run over time when it recorded it (julia.perf.engine.over_time)."""
    rows, classes, drawn = [], [], []
    for v in words.ordered(verdicts):
        bench = run.benches.get(v.name)
        said = [str(line) for line in bench.counters.get("said", ())] if bench else []
        if not said or bench is None:
            continue
        rows.append([v.name, v.status, words.reason(v), _num(v.summary.p50), _num(v.summary.p99), *said[:2]])
        classes.append(v.status if v.status != "ok" else "")
        chart = over_time.draw(bench.counters.get("over_time") or {}, charts_dir / f"{v.name}.png")
        if chart is not None:
            drawn.append(f"<h3>{_e(v.name)} over time</h3>{_img(chart, out, f'{v.name} over time')}")
    if not rows:
        return []
    return [
        "<h2 id='load'>Load runs</h2><p class='info'>The real processes under a load of their own, measured "
        "with the head alone (in a perf run, after the A/B turns): judged by their budgets (counts, limits, "
        "the ratio to the floor measured in the same run), with what each run said of itself, then each "
        "run over time from the samples it took once a second.</p>",
        html_table(
            ["benchmark", "status", "why", "p50 ms", "p99 ms", "what it measured", "likely cause"],
            [row + [""] * (7 - len(row)) for row in rows],
            classes,
            words_columns=(2, 5, 6),
        ),
        *drawn,
    ]


def _counters(run: Run) -> list[str]:
    """What the database did, independent of the machine, and the round trips per call or message."""
    query_rows = []
    trips = []
    for bench in run.benches.values():
        c = bench.counters
        if "plan_nodes" in c:
            pgss = c.get("pgss") or {}
            plan = [c.get(k) for k in ("rows", "buffers", "plan_nodes")]
            server = [pgss.get(k) for k in ("calls", "rows_per_call", "blocks_per_call", "mean_exec_ms")]
            query_rows.append([bench.name, *map(words.words, plan + server), _generic_cell(c)])
        if "pg_statements" in c:
            counts = ("pg_statements", "pg_pool_resets", "redis_commands", "units_counted")
            trips.append([bench.name, *(words.words(c.get(k)) for k in counts)])
    parts = []
    if query_rows:
        parts += [
            "<h2 id='costs'>Cost counters</h2><p class='info'>rows: the most any sampled key returned; "
            "buffers: shared hit + read of the worst sampled key (EXPLAIN ANALYZE, BUFFERS); calls to exec "
            "ms: pg_stat_statements over the whole run.</p>",
            html_table(
                [
                    "benchmark",
                    "rows",
                    "buffers",
                    "plan",
                    "calls",
                    "rows/call",
                    "blocks/call",
                    "exec ms (server)",
                    "timed calls ran",
                ],
                query_rows,
                words_columns=(3,),
            ),
        ]
    if trips:
        parts += [
            "<h2 id='round-trips'>Round trips per call or message</h2><p class='info'>Counted by the servers "
            "(pg_stat_statements, Valkey INFO commandstats), the most common value over the calls counted. "
            "A count above its budget or the base's fails the gate, whatever the time did.</p>",
            html_table(
                ["benchmark", "SQL statements", "pool round trips", "Redis commands", "counted over"], trips
            ),
        ]
    return parts


def _harness_share(run: Run) -> list[str]:
    """Each floor beside the server's own C client on the same work, measured right after it: the
    difference is the harness's share, by which it dilutes a server-side slowdown in the ratios. Means
    on both sides: the C clients give no percentiles (julia.perf.engine.native)."""
    rows = []
    for name, bench in sorted(run.benches.items()):
        native = bench.counters.get("native_ms")
        if not native or not bench.samples_ms:
            continue
        mean = statistics.fmean(bench.samples_ms)
        client = str(bench.counters.get("native_client", ""))
        rows.append([name, _num(mean), client, _num(native), f"{max(1 - native / mean, 0.0):.0%}"])
    if not rows:
        return []
    return [
        "<h2 id='harness'>The harness's own share of each floor</h2><p class='info'>A floor measured by the "
        "suite (Python, the project's client library, the event loop it runs on) beside the server's own C "
        "client doing the same right after it, both as means. A server-side slowdown shows in a ratio to "
        "this floor diluted by about the share.</p>",
        html_table(["floor", "harness mean ms", "C client", "C client mean ms", "harness share"], rows),
    ]


def _drift(verdicts: list[Verdict], baseline: Run | None, charts_dir: Path, out: Path) -> list[str]:
    head = "<h2 id='drift'>Drift from the stored baseline (information only)</h2>"
    if baseline is None:
        return [head, "<p class='info'>No stored baseline for this machine class at this scale.</p>"]
    where = f"{words.short(baseline.stamp.get('git_commit'))}, {baseline.stamp.get('started_at')}"
    chart = charts.drift(verdicts, charts_dir / "drift.png")
    text = (
        f"<p class='info'>Each median against the stored baseline's ({_e(where)}): another run, maybe "
        "another machine. Never a failure: timing is judged only against the base measured in this run.</p>"
    )
    return [head, text, _img(chart, out, "drift from the stored baseline") if chart else ""]


def _history(lines: list[dict[str, Any]], charts_dir: Path, out: Path) -> list[str]:
    head = "<h2 id='history'>History</h2>"
    drawn = charts.history(lines, charts_dir)
    if not drawn:
        return [head, f"<p class='info'>{len(lines)} stored run(s): a history needs two.</p>"]
    return [
        head,
        f"<p class='info'>The stored runs of this machine class ({len(lines)}, oldest first), one chart per "
        "benchmark: its p50 in ms, from zero; x: commit and date.</p><div class='grid'>",
        *(_img(path, out, name) for name, path in drawn),
        "</div>",
    ]


def _scale(out: Path) -> list[str]:
    chart = out / "scale.png"
    if not chart.is_file():
        return []
    return ["<h2 id='scale'>Scale</h2>", _img(chart, out, "ratio to the floor against the scale")]


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    classes: Sequence[str] | None = None,
    *,
    header: bool = True,
    words_columns: Sequence[int] = (),
) -> str:
    """An HTML table (cells escaped); `words_columns` are left-aligned and wrap, the rest are figures."""
    head = (
        "<tr>"
        + "".join(
            f"<th class='words'>{_e(h)}</th>" if j in words_columns else f"<th>{_e(h)}</th>"
            for j, h in enumerate(headers)
        )
        + "</tr>"
        if header
        else ""
    )
    body = []
    for i, row in enumerate(rows):
        css = classes[i] if classes else ""
        cells = "".join(
            f"<td class='words'>{_e(c)}</td>" if j in words_columns else f"<td>{_e(c)}</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr class='{css}'>{cells}</tr>" if css else f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _img(path: Path, out: Path, alt: str) -> str:
    return f"<img src='{_e(path.relative_to(out).as_posix())}' alt='{_e(alt)}'>"


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else fmt(value)


def _e(value: Any) -> str:
    return html.escape(words.words(value) if not isinstance(value, str) else value)
