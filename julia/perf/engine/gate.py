"""The gate: one run judged against perf/budgets.toml, against its base measured in the same run, and
(for information only) against the stored baseline of its machine class.

Hard failures are what does not depend on the machine or on luck: a business ceiling broken, an expected
index missing from the plan, more rows or buffers than budgeted, a ratio to the floor beyond its budget,
a cost counter above its budget or above the base's, a call's allocation peak above the base's beyond
julia.perf.engine.allocations.ALLOWED_GROWTH (a warning instead while `[gate] allocations_fail` is false:
not yet calibrated), a measured figure above its business limit (`limits`: a load run's, never held to
the base's), a benchmark with no budget. A budget marked `advisory` (its reason) turns what would fail it
into a warning that quotes the reason; the lines a benchmark `said` of itself (a load run's summary and
likely cause) are shown with its verdict, never judged. Timing fails only on
the same-run A/B verdict (julia.perf.engine.stats.compare_blocks): the head slower than the base measured
beside it, with the whole confidence interval above the benchmark's threshold. The stored baseline was
measured on whatever machine recorded it, so its timing is drift to look at, never a failure.

Budgets that depend on the scale (ratio_p50, max_rows, max_buffers) are written for `[gate] scale` of
what perf.toml's [project] scale counts (julia's: doctors); at another scale they are shown, not enforced.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from julia.perf.engine import allocations, stats
from julia.perf.engine.extra import ExtraBlocks
from julia.perf.engine.results import Bench, Run, scale_of

Severity = Literal["fail", "warn", "info"]
SCALE_DEPENDENT = ("ratio", "rows", "buffers")
UNCALIBRATED_THRESHOLD = 1.20  # perf/budgets.toml's [gate] uncalibrated_threshold says why
# Budgets on a time this machine sets as much as the code does: judged against the base measured beside it.
MACHINE_BOUND = ("ceiling", "ratio")


@dataclass(frozen=True)
class Budget:
    ceiling_ms: float | None = None  # the business's number, checked on p99
    ratio_p50: float | None = None  # p50 / floor p50 may not exceed this (at the budgets' scale)
    indexes: tuple[str, ...] = ()  # each must appear in the plan
    max_rows: int | None = None  # at the budgets' scale
    max_buffers: int | None = None  # shared hit + read of one execution, the worst sampled key
    max_slope: float | None = None  # perf-scale: log-log growth of the ratio with the scale
    threshold: float | None = None  # head/base ratio that fails this benchmark (default: [gate] threshold)
    must_catch: float | None = None  # the slowdown it is held to catch (default: [gate] must_catch, by group)
    # False: too few blocks per side for a same-run verdict by design (a burst, a race of a few rounds);
    # the ceiling and the counts hold it, and the report says so instead of warning "inconclusive".
    timing: bool = True
    # Hard-gated cost counters (Redis commands, Postgres statements per call or message): each may not
    # exceed its number here, nor grow past the base's (or, without a base, the baseline's) value.
    counts: tuple[tuple[str, int], ...] = ()
    # A measured figure's business limit (a load run's time-to-reply p99 above its third party's, say): each
    # counter may not exceed its number here. Unlike `counts`, never held to the base's or the baseline's:
    # the figure is not deterministic.
    limits: tuple[tuple[str, float], ...] = ()
    # Why this benchmark's budgets are not yet calibrated ("" when they are): while said, what would fail
    # it is a warning that quotes the reason.
    advisory: str = ""


@dataclass(frozen=True)
class Budgets:
    benches: dict[str, Budget]
    threshold: float = stats.THRESHOLD
    scale: int = (
        1000  # how many of the project's scale (perf.toml) the scale-dependent budgets were written for
    )
    # Whether a same-run timing regression fails the run, or is reported as a warning while the gate's
    # calibration has not yet shown its false-failure rate on unchanged code ([gate] timing_fails).
    timing_fails: bool = True
    # Wall time the extra block pairs of undecided benchmarks may take in one run (julia.perf.engine.extra).
    extra_s: float = 0.0
    # The least threshold on a machine class with no calibration of its own ([gate] uncalibrated_threshold).
    uncalibrated_threshold: float = UNCALIBRATED_THRESHOLD
    # Whether an allocation peak above the base's fails the run, or is a warning while the allocation
    # gate's calibration (perf/allocations_accuracy.py) has not shown its false failures ([gate]).
    allocations_fail: bool = True
    # Per group, the slowdown its benchmarks are held to catch ([gate] must_catch): an interval wholly
    # below it answers the run's question even where it reaches above the threshold (stats.compare_blocks).
    must_catch: dict[str, float] = field(default_factory=dict)

    def threshold_of(self, name: str) -> float:
        budget = self.benches.get(name)
        return budget.threshold if budget and budget.threshold else self.threshold

    def must_catch_of(self, name: str, group: str) -> float | None:
        budget = self.benches.get(name)
        return budget.must_catch if budget and budget.must_catch else self.must_catch.get(group)

    def conservative(self) -> Budgets:
        """These budgets on a machine class never calibrated: every threshold at least
        `uncalibrated_threshold`. The thresholds fitted on another class say nothing of this one's false
        failures; a wider one costs catches, which the run's 80%-power effect then shows."""
        floor = self.uncalibrated_threshold
        return dataclasses.replace(
            self,
            threshold=max(self.threshold, floor),
            benches={
                name: dataclasses.replace(budget, threshold=max(self.threshold_of(name), floor))
                for name, budget in self.benches.items()
            },
        )

    def extra_blocks(self) -> ExtraBlocks:
        """A fresh policy for one run's extra block pairs, at these thresholds and this time budget."""
        return ExtraBlocks(self.threshold_of, self.extra_s)


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
            threshold=entry.get("threshold"),
            must_catch=entry.get("must_catch"),
            timing=entry.get("timing", True),
            counts=tuple(entry.get("counts", {}).items()),
            limits=tuple((key, float(value)) for key, value in entry.get("limits", {}).items()),
            advisory=str(entry.get("advisory", "")),
        )
        for name, entry in raw.get("bench", {}).items()
    }
    return Budgets(
        benches,
        gate.get("threshold", stats.THRESHOLD),
        gate.get("scale", 1000),
        gate.get("timing_fails", True),
        allocations_fail=gate.get("allocations_fail", True),
        extra_s=float(gate.get("extra_s", 0.0)),
        uncalibrated_threshold=float(gate.get("uncalibrated_threshold", UNCALIBRATED_THRESHOLD)),
        must_catch={group: float(x) for group, x in gate.get("must_catch", {}).items()},
    )


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    message: str


@dataclass
class Verdict:
    """One benchmark judged: its numbers, the same-run A/B comparison, the drift from the stored baseline,
    and what the checks found."""

    name: str
    group: str
    summary: stats.Summary
    ratio_p50: float | None
    base_summary: stats.Summary | None = None
    ab: stats.ABComparison | None = None
    baseline_summary: stats.Summary | None = None
    baseline_ratio_p50: float | None = None
    drift: stats.Drift | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.severity == "fail" for f in self.findings)

    @property
    def status(self) -> str:
        if self.failed:
            return "FAIL"
        if self.ab is not None and self.ab.outcome == "inconclusive":
            return "inconclusive"
        return "warn" if any(f.severity == "warn" for f in self.findings) else "ok"

    @property
    def ok_only_against_must_catch(self) -> bool:
        """ "ok" with an interval below the slowdown it must catch but still reaching above its threshold."""
        ab = self.ab
        return self.status == "ok" and ab is not None and ab.outcome == "ok" and not ab.below_threshold


def ratios(run: Run, bench: Bench) -> list[float] | None:
    if bench.ratios:
        return bench.ratios
    floor = run.floor_p50(bench)
    return [s / floor for s in bench.samples_ms] if floor else None


def judge(run: Run, budgets: Budgets, baseline: Run | None = None) -> list[Verdict]:
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
    axis, at = scale_of(run.stamp)
    for finding in _budget_findings(bench, summary, verdict.ratio_p50, budget):
        if finding.check in SCALE_DEPENDENT and at != budgets.scale:
            finding = Finding(
                "info", finding.check, f"{finding.message} (budget written for {budgets.scale:,} {axis})"
            )
        verdict.findings.append(finding)
    base = run.base.benches.get(bench.name) if run.base else None
    if run.base is not None and base is not None:
        verdict.base_summary = stats.summarize(base.samples_ms)
        base_ratios = ratios(run.base, base)
        base_ratio = float(np.median(base_ratios)) if base_ratios else None
        threshold = budgets.threshold_of(bench.name)
        verdict.findings = [_base_too(f, verdict, base_ratio, budget, threshold) for f in verdict.findings]
    if base is not None and not budget.timing:
        verdict.findings.append(
            Finding("info", "ab", "no same-run timing verdict by design (timing = false): ceiling and counts")
        )
    elif base is not None:
        verdict.findings += _ab_findings(
            verdict,
            bench,
            base,
            budgets.threshold_of(bench.name),
            budgets.timing_fails,
            budgets.must_catch_of(bench.name, bench.group),
        )
    verdict.findings += [Finding("info", "said", str(line)) for line in bench.counters.get("said", ())]
    if budget.advisory:
        verdict.findings = [_advisory(f, budget.advisory) for f in verdict.findings]
    if base is not None:
        verdict.findings += _drift_findings(bench.counters, base.counters, "base")
        verdict.findings += _count_growth(bench.counters, base.counters, budget, "base")
        verdict.findings += [
            Finding("fail", "allocations", m)
            if budgets.allocations_fail
            else Finding("warn", "allocations", f"{m} (advisory: [gate] allocations_fail = false)")
            for m in allocations.growth(bench.counters, base.counters, "base")
        ]
    stored = baseline.benches.get(bench.name) if baseline else None
    if baseline is not None and stored is not None:
        verdict.baseline_summary = stats.summarize(stored.samples_ms)
        previous = ratios(baseline, stored)
        verdict.baseline_ratio_p50 = float(np.median(previous)) if previous else None
        verdict.drift = stats.drift(
            bench.samples_ms, stored.samples_ms, verdict.ratio_p50, verdict.baseline_ratio_p50
        )
        verdict.findings.append(Finding("info", "drift", _drift_text(verdict.drift, baseline)))
        if base is None:  # without a same-run base, the deterministic counters are held to the baseline's
            verdict.findings += _drift_findings(bench.counters, stored.counters, "baseline")
            verdict.findings += _count_growth(bench.counters, stored.counters, budget, "baseline")
    return verdict


def _advisory(finding: Finding, why: str) -> Finding:
    """A failure of a benchmark whose budgets are advisory (`why`: the budget's reason), as a warning."""
    if finding.severity != "fail":
        return finding
    return Finding("warn", finding.check, f"{finding.message} (advisory: {why})")


def _base_too(
    finding: Finding, verdict: Verdict, base_ratio: float | None, budget: Budget, threshold: float
) -> Finding:
    """A ceiling or floor-ratio budget the head broke, judged against the base measured beside it on the
    same servers: the change's failure when the head is worse than the base by more than the benchmark's
    regression threshold (a base that held the budget with that much room is the same case). Within it,
    this machine at that moment left unchanged code at the edge of the budget or past it, which says
    nothing about the change: a warning with both figures. Seen in calibration A/A runs with other work
    beside them: the webhook load's p99 at 816 ms on one side and 1,200 ms on the other against a 100 ms
    ceiling, and its median 15.9x and 13.5x the empty endpoint against a budget of 15x (a server near
    saturation, where a little contention moves latency most). Without a base the budget alone judges."""
    if finding.severity != "fail" or finding.check not in MACHINE_BOUND:
        return finding
    base = verdict.base_summary
    if finding.check == "ceiling" and budget.ceiling_ms is not None and base is not None:
        head_value, base_value, what = verdict.summary.p99, base.p99, "p99 {:.2f} ms"
    elif finding.check == "ratio" and budget.ratio_p50 is not None:
        if verdict.ratio_p50 is None or base_ratio is None:
            return finding
        head_value, base_value, what = verdict.ratio_p50, base_ratio, "median {:.2f}x its floor"
    else:
        return finding
    if head_value > base_value * threshold:
        return finding
    return Finding(
        "warn",
        finding.check,
        f"{finding.message}; the base beside it: {what.format(base_value)}, within {threshold:.2f}x of it: "
        "this machine held unchanged code no better just now; the same-run comparison judges the change",
    )


def _ab_findings(
    verdict: Verdict,
    bench: Bench,
    base: Bench,
    threshold: float,
    timing_fails: bool = True,
    must_catch: float | None = None,
) -> list[Finding]:
    if not bench.blocks or not base.blocks:
        return [Finding("info", "ab", "not measured in turns: no same-run timing verdict")]
    ab = stats.compare_blocks(
        stats.split_blocks(bench.samples_ms, bench.blocks),
        stats.split_blocks(base.samples_ms, base.blocks),
        head_rounds=bench.rounds,
        base_rounds=base.rounds,
        threshold=threshold,
        must_catch=must_catch,
    )
    verdict.ab = ab
    if ab.outcome == "unpaired":
        return [Finding("info", "ab", "no block measured on both sides")]
    if not (math.isfinite(ab.low) and math.isfinite(ab.high)):
        return [
            Finding(
                "warn",
                "inconclusive",
                f"{ab.ratio:.3f}x the base over {ab.pairs} block pairs: fewer than {stats.MIN_PAIRS}, "
                "too few for an interval",
            )
        ]
    interval = f"{ab.ratio:.3f}x the base (95% interval {ab.low:.3f}-{ab.high:.3f}, {ab.pairs} block pairs)"
    if ab.outcome == "regressed":
        above = f"{interval}: the whole interval above {threshold:.2f}x"
        if timing_fails:
            return [Finding("fail", "regression", above)]
        return [Finding("warn", "regression", f"{above} (advisory: [gate] timing_fails = false)")]
    if ab.outcome == "inconclusive":
        return [
            Finding(
                "warn",
                "inconclusive",
                f"{interval}: straddles {threshold:.2f}x; this run catches {ab.detectable:.2f}x half the "
                f"time, {ab.detectable_80:.2f}x 4 times in 5",
            )
        ]
    if ab.below_threshold:
        return [Finding("info", "ab", f"{interval}: below {threshold:.2f}x")]
    return [
        Finding(
            "info",
            "ab",
            f"{interval}: below {ab.must_catch:.2f}x, the slowdown it must catch; it straddles "
            f"{threshold:.2f}x, so a smaller one is not ruled out (this run catches {ab.detectable_80:.2f}x "
            "4 times in 5)",
        )
    ]


def _drift_text(drift: stats.Drift, baseline: Run) -> str:
    where = f"{baseline.stamp.get('git_commit')}, {baseline.stamp.get('started_at')}"
    ratio = f", ratio to floor {drift.ratio:.2f}x" if drift.ratio is not None else ""
    return f"median {drift.time:.2f}x the stored baseline's ({where}){ratio}: another run, not evidence"


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
    found += _above(counters, budget.counts, "counts", "budget", "counted")
    found += _above(counters, budget.limits, "limits", "limit", "measured")
    return found


def _above(
    counters: dict[str, Any], most: Sequence[tuple[str, float]], check: str, word: str, taken: str
) -> list[Finding]:
    """Each counter in `most` above its number fails; one not there (`taken`: counted, measured) warns."""
    found = []
    for key, limit in most:
        value = counters.get(key)
        if value is None:
            found.append(Finding("warn", check, f"{key} budgeted but not {taken}"))
        elif value > limit:
            found.append(Finding("fail", check, f"{key} {_figure(value)} > {word} {_figure(limit)}"))
    return found


def _figure(value: float) -> str:
    """A count as counted (14), a measured figure without trailing zeros (2000.0 -> 2000)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _count_growth(now: dict[str, Any], before: dict[str, Any], budget: Budget, against: str) -> list[Finding]:
    """A hard-gated counter above the base's fails even within its budget: one more round trip per
    message is a deterministic regression, whatever the clock says."""
    found: list[Finding] = []
    for key, _ in budget.counts:
        if now.get(key) is not None and before.get(key) is not None and now[key] > before[key]:
            found.append(Finding("fail", "counts", f"{key} {before[key]} => {now[key]} ({against})"))
    return found


def _drift_findings(now: dict[str, Any], before: dict[str, Any], against: str) -> list[Finding]:
    """Machine-independent counters that moved: shown, not failed (the budget decides)."""
    found: list[Finding] = []
    if now.get("plan_nodes") and before.get("plan_nodes") and now["plan_nodes"] != before["plan_nodes"]:
        found.append(
            Finding(
                "warn",
                "plan",
                f"plan changed from the {against}'s: {' > '.join(before['plan_nodes'])} => "
                f"{' > '.join(now['plan_nodes'])}",
            )
        )
    generic, was = (
        (now.get("generic") or {}).get("plan_nodes"),
        (before.get("generic") or {}).get("plan_nodes"),
    )
    if generic and was and generic != was:
        found.append(
            Finding(
                "warn",
                "plan",
                f"generic plan changed from the {against}'s: {' > '.join(was)} => {' > '.join(generic)}",
            )
        )
    for key in ("rows", "buffers"):
        if key in now and key in before and now[key] > before[key]:
            found.append(Finding("warn", key, f"{key} {before[key]} => {now[key]} ({against})"))
    return found


def failed(verdicts: list[Verdict]) -> bool:
    return any(v.failed for v in verdicts)
