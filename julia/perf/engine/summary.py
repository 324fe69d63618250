"""reports/out/summary.md: the gate's verdict in a few lines of Markdown, for a CI system's job summary
(`cat reports/out/summary.md >> "$GITHUB_STEP_SUMMARY"`): the verdict, the counts and the base with why it
was chosen (the first line), the A/B context, one row per failed or inconclusive benchmark with this run's
power (the slowdown it catches half the time, 50%, and 4 times in 5, 80%), and the likely cause of each
benchmark explained (julia.perf.engine.causes). The whole story is in index.html."""

from __future__ import annotations

import math

from julia.perf.engine import causes, words
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run


def markdown(
    run: Run,
    verdicts: list[Verdict],
    explained: dict[str, causes.Cause] | None = None,
    uncalibrated: str = "",
) -> str:
    """`explained`: the causes to list (default: those of every failed, inconclusive or warned one);
    `uncalibrated`: the line a run on a class with no calibration says first (julia perf gate)."""
    explained = causes.explain(run, verdicts) if explained is None else explained
    tally = words.counts(verdicts)
    verdict = "passed" if tally.passed else "FAILED"
    stamp = run.stamp
    # The first line names the base and why it was chosen (julia.perf.engine.base_choice): a job summary is
    # read from the top, and a verdict means little before one knows what it was measured against.
    base = (stamp.get("ab") or {}).get("why") or "no base: the head alone"
    lines = [
        f"## {words.title(stamp)} {verdict}: {tally.text()}; {base}",
        "",
        *words.markdown_context(run, uncalibrated),
    ]
    shown = words.failed_or_inconclusive(verdicts)
    likely = _likely(explained)
    if not shown:
        return "\n".join([*lines, "No benchmark failed or was inconclusive.", "", *likely])
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
    return "\n".join([*lines, "", *likely, "Full report: `reports/out/index.html`.", ""])


def _likely(explained: dict[str, causes.Cause]) -> list[str]:
    """One line per benchmark explained: its most likely cause, or that nothing stands out."""
    if not explained:
        return []
    rows = [f"- `{c.name}` ({c.status}): {c.line}" for c in explained.values()]
    return ["**Likely cause** (the first of the candidates ranked in the report):", "", *rows, ""]
