"""The gate: one run judged against perf/budgets.toml and the stored baseline of its machine class.

Hard failures are what does not depend on the machine or on luck: a business ceiling broken, an expected
index missing from the plan, more rows or buffers than budgeted, a ratio to the floor beyond its budget,
a benchmark with no budget. Timing against the baseline fails only under the rule of julia.perf.stats.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from julia.perf import stats
from julia.perf.results import Bench, Run

Severity = Literal["fail", "warn", "info"]


@dataclass(frozen=True)
class Budget:
    ceiling_ms: float | None = None  # the business's number, checked on p99
    ratio_p50: float | None = None  # p50 / floor p50 may not exceed this
    indexes: tuple[str, ...] = ()  # each must appear in the plan
    max_rows: int | None = None
    max_buffers: int | None = None  # shared hit + read of one execution, the worst sampled key
    max_slope: float | None = None  # perf-scale: log-log growth of the ratio with the doctors
    min_effect: float | None = None  # overrides the gate's minimum effect for a noisier benchmark
    # Hard-gated cost counters (Redis commands, Postgres statements per call or message): each may not
    # exceed its number here, nor grow past the baseline's value.
    counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Budgets:
    benches: dict[str, Budget]
    alpha: float = stats.ALPHA
    min_effect: float = stats.MIN_EFFECT


def load_budgets(path: Path) -> Budgets:
    raw = tomllib.loads(path.read_text())
    gate = raw.get("gate", {})
    benches = {
        name: Budget(
            ceiling_ms=entry.get("ceiling_ms"),
            ratio_p50=entry.get("ratio_p50"),
            indexes=tuple(entry.get("indexes", ())),
            max_rows=entry.get("max_rows"),
            max_buffers=entry.get("max_buffers"),
            max_slope=entry.get("max_slope"),
            min_effect=entry.get("min_effect"),
            counts=tuple(entry.get("counts", {}).items()),
        )
        for name, entry in raw.get("bench", {}).items()
    }
    return Budgets(benches, gate.get("alpha", stats.ALPHA), gate.get("min_effect", stats.MIN_EFFECT))


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    message: str


@dataclass
class Verdict:
    """One benchmark judged: its numbers, its ratio now and in the baseline, and what the checks found."""

    name: str
    group: str
    summary: stats.Summary
    ratio_p50: float | None
    baseline_ratio_p50: float | None = None
    baseline_summary: stats.Summary | None = None
    comparison: stats.Comparison | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.severity == "fail" for f in self.findings)

    @property
    def status(self) -> str:
        if self.failed:
            return "FAIL"
        return "warn" if any(f.severity == "warn" for f in self.findings) else "ok"


def ratios(run: Run, bench: Bench) -> list[float] | None:
    if bench.ratios:
        return bench.ratios
    floor = run.floor_p50(bench)
    return [s / floor for s in bench.samples_ms] if floor else None


def judge(run: Run, budgets: Budgets, baseline: Run | None) -> list[Verdict]:
    verdicts = [_judge_one(run, bench, budgets, baseline) for bench in run.benches.values()]
    for name in sorted(set(budgets.benches) - set(run.benches)):
        verdicts.append(
            Verdict(
                name,
                "-",
                stats.Summary(0, *(float("nan"),) * 5),
                None,
                findings=[Finding("warn", "missing", "budgeted but not measured in this run")],
            )
        )
    return verdicts


def _judge_one(run: Run, bench: Bench, budgets: Budgets, baseline: Run | None) -> Verdict:
    summary = stats.summarize(bench.samples_ms)
    current = ratios(run, bench)
    verdict = Verdict(bench.name, bench.group, summary, float(np.median(current)) if current else None)
    budget = budgets.benches.get(bench.name)
    if budget is None:
        verdict.findings.append(Finding("fail", "budget", "no entry in perf/budgets.toml"))
        budget = Budget()
    verdict.findings += _budget_findings(bench, summary, verdict.ratio_p50, budget)
    base = baseline.benches.get(bench.name) if baseline else None
    if baseline is None or base is None:
        verdict.findings.append(Finding("info", "baseline", "no baseline to compare with"))
        return verdict
    verdict.baseline_summary = stats.summarize(base.samples_ms)
    previous = ratios(baseline, base)
    if current and previous:
        verdict.baseline_ratio_p50 = float(np.median(previous))
        min_effect = budget.min_effect or budgets.min_effect
        absolute = float(np.median(bench.samples_ms) / np.median(base.samples_ms))
        verdict.comparison = stats.compare(
            current, previous, alpha=budgets.alpha, min_effect=min_effect, absolute_effect=absolute
        )
        if verdict.comparison.regressed:
            verdict.findings.append(
                Finding(
                    "fail",
                    "regression",
                    f"ratio to floor {verdict.comparison.effect:.2f}x the baseline's "
                    f"(Mann-Whitney p={verdict.comparison.p_value:.1e}; time {absolute:.2f}x)",
                )
            )
    verdict.findings += _drift_findings(bench.counters, base.counters)
    verdict.findings += _count_growth(bench.counters, base.counters, budget)
    return verdict


def _budget_findings(
    bench: Bench, summary: stats.Summary, ratio: float | None, budget: Budget
) -> list[Finding]:
    found: list[Finding] = []
    counters = bench.counters
    if budget.ceiling_ms is not None and summary.p99 > budget.ceiling_ms:
        found.append(
            Finding("fail", "ceiling", f"p99 {summary.p99:.2f} ms > ceiling {budget.ceiling_ms:g} ms")
        )
    if budget.ratio_p50 is not None and ratio is not None and ratio > budget.ratio_p50:
        found.append(
            Finding("fail", "ratio", f"median {ratio:.2f}x its floor > budget {budget.ratio_p50:g}x")
        )
    missing = [index for index in budget.indexes if index not in counters.get("plan_indexes", [])]
    if missing:
        found.append(
            Finding(
                "fail",
                "plan",
                f"plan flip: {', '.join(missing)} not used "
                f"(plan: {' > '.join(counters.get('plan_nodes', [])) or 'none recorded'})",
            )
        )
    for key, limit in (("rows", budget.max_rows), ("buffers", budget.max_buffers)):
        value = counters.get(key)
        if limit is not None and value is not None and value > limit:
            found.append(Finding("fail", key, f"{key} {value} > budget {limit}"))
    for key, limit in budget.counts:
        value = counters.get(key)
        if value is None:
            found.append(Finding("warn", "counts", f"{key} budgeted but not counted"))
        elif value > limit:
            found.append(Finding("fail", "counts", f"{key} {value} > budget {limit}"))
    return found


def _count_growth(now: dict[str, Any], before: dict[str, Any], budget: Budget) -> list[Finding]:
    """A hard-gated counter above the baseline's fails even within its budget: one more round trip per
    message is a deterministic regression, whatever the clock says."""
    found: list[Finding] = []
    for key, _ in budget.counts:
        if now.get(key) is not None and before.get(key) is not None and now[key] > before[key]:
            found.append(Finding("fail", "counts", f"{key} {before[key]} => {now[key]} (baseline)"))
    return found


def _drift_findings(now: dict[str, Any], before: dict[str, Any]) -> list[Finding]:
    """Machine-independent counters that moved since the baseline: shown, not failed (the budget decides)."""
    found: list[Finding] = []
    if now.get("plan_nodes") and before.get("plan_nodes") and now["plan_nodes"] != before["plan_nodes"]:
        found.append(
            Finding(
                "warn",
                "plan",
                f"plan changed: {' > '.join(before['plan_nodes'])} => {' > '.join(now['plan_nodes'])}",
            )
        )
    for key in ("rows", "buffers"):
        if key in now and key in before and now[key] > before[key]:
            found.append(Finding("warn", key, f"{key} {before[key]} => {now[key]}"))
    return found


def failed(verdicts: list[Verdict]) -> bool:
    return any(v.failed for v in verdicts)
