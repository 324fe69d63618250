"""reports/out/summary.md: the gate's verdict in a few lines of Markdown, for a CI system's job summary
(`cat reports/out/summary.md >> "$GITHUB_STEP_SUMMARY"`): the verdict, the counts and the base with why it
was chosen (the first line), the A/B context and one
row per failed or inconclusive benchmark. The whole story is in index.html."""

from __future__ import annotations

import math

from julia.perf.engine import words
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run


def markdown(run: Run, verdicts: list[Verdict]) -> str:
    tally = words.counts(verdicts)
    verdict = "passed" if tally.passed else "FAILED"
    stamp = run.stamp
    # The first line names the base and why it was chosen (julia.perf.engine.base_choice): a job summary is
    # read from the top, and a verdict means little before one knows what it was measured against.
    base = (stamp.get("ab") or {}).get("why") or "no base: the head alone"
    lines = [
        f"## julia perf gate {verdict}: {tally.text()}; {base}",
        "",
        f"{words.ab_context(run)}; {stamp.get('doctors', 0):,} doctors on {stamp.get('machine_class')}"
        + (f"; **injected regression: {stamp['injected']}**" if stamp.get("injected") else ""),
        "",
    ]
    shown = [v for v in words.ordered(verdicts) if v.status in ("FAIL", "inconclusive")]
    if not shown:
        return "\n".join([*lines, "No benchmark failed or was inconclusive.", ""])
    lines += [
        "| benchmark | status | head/base | 95% interval | detectable | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in shown:
        ab = v.ab
        ratio = words.fmt_x(ab.ratio) if ab and math.isfinite(ab.ratio) else "-"
        span = words.interval(ab) if ab else "-"
        detectable = words.fmt_x(ab.detectable) if ab else "-"
        why = words.reason(v).replace("|", "\\|")
        lines.append(f"| `{v.name}` | {v.status} | {ratio} | {span} | {detectable} | {why} |")
    return "\n".join([*lines, "", "Full report: `reports/out/index.html`.", ""])
