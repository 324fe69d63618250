"""reports/out/summary.md: the gate's verdict in a few lines of Markdown, for a CI system's job summary
(`cat reports/out/summary.md >> "$GITHUB_STEP_SUMMARY"`): the verdict, the counts, the A/B context and one
row per failed or inconclusive benchmark with this run's power: the slowdown it catches half the time (50%)
and 4 times in 5 (80%). The whole story is in index.html."""

from __future__ import annotations

import math

from julia.perf.engine import words
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run


def markdown(run: Run, verdicts: list[Verdict], uncalibrated: str = "") -> str:
    """`uncalibrated`: the line a run on a class with no calibration says first (julia perf gate)."""
    tally = words.counts(verdicts)
    verdict = "passed" if tally.passed else "FAILED"
    stamp = run.stamp
    lines = [
        f"## julia perf gate {verdict}: {tally.text()}",
        "",
        *([f"**{uncalibrated}**", ""] if uncalibrated else []),
        f"{words.ab_context(run)}; {stamp.get('doctors', 0):,} doctors on {stamp.get('machine_class')}"
        + (f"; **injected regression: {stamp['injected']}**" if stamp.get("injected") else ""),
        "",
    ]
    shown = [v for v in words.ordered(verdicts) if v.status in ("FAIL", "inconclusive")]
    if not shown:
        return "\n".join([*lines, "No benchmark failed or was inconclusive.", ""])
    lines += [
        "| benchmark | status | head/base | 95% interval | caught at 50% power | at 80% | why |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in shown:
        ab = v.ab
        ratio = words.fmt_x(ab.ratio) if ab and math.isfinite(ab.ratio) else "-"
        span = words.interval(ab) if ab else "-"
        half = words.fmt_x(ab.detectable) if ab else "-"
        most = words.fmt_x(ab.detectable_80) if ab else "-"
        why = words.reason(v).replace("|", "\\|")
        lines.append(f"| `{v.name}` | {v.status} | {ratio} | {span} | {half} | {most} | {why} |")
    return "\n".join([*lines, "", "Full report: `reports/out/index.html`.", ""])
