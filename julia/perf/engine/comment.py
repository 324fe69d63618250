"""reports/out/comment.md: the gate's verdict as one pull-request comment, which the CI workflow posts and
then updates in place (found again by its marker): the verdict line, each failed and inconclusive benchmark
with head/base, its 95% interval, the slowdown this run catches 4 times in 5 (80% power) and, for a
failure, where the time went where the run knows it (the database's own time, pg_stat_statements); then
the capacity gate's line and a link to the whole report (the workflow's artifact).

A comment is read in a pull request's conversation, so it is short: the rows past MAX_ROWS are counted,
not shown (GitHub refuses a comment over 65,536 characters); the report has every benchmark."""

from __future__ import annotations

import math
from typing import Any

from julia.perf.engine import words
from julia.perf.engine.gate import Verdict
from julia.perf.engine.results import Run, project_of


def marker(stamp: dict[str, Any]) -> str:
    """How the workflow finds its own comment to update it (julia's: <!-- julia-perf-gate -->)."""
    return f"<!-- {project_of(stamp)['name']}-perf-gate -->"


MAX_ROWS = 30


def markdown(
    run: Run,
    verdicts: list[Verdict],
    *,
    capacity: str,
    link: str | None,
    uncalibrated: str = "",
) -> str:
    """`capacity`: the capacity gate's line (the caller reads its result); `link`: where the report is
    (the workflow run's artifacts), None when there is nowhere to point."""
    tally = words.counts(verdicts)
    verdict = "passed" if tally.passed else "FAILED"
    stamp = run.stamp
    lines = [
        marker(stamp),
        f"### {words.title(stamp)} {verdict}: {tally.text()}",
        "",
        *words.markdown_context(run, uncalibrated),
    ]
    shown = words.failed_or_inconclusive(verdicts)
    if shown:
        lines += [
            "| benchmark | status | head/base | 95% interval | caught 4 times in 5 (80% power) | why |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for v in shown[:MAX_ROWS]:
            lines.append(_row(run, v))
        if len(shown) > MAX_ROWS:
            lines.append(f"| ... and {len(shown) - MAX_ROWS} more in the report | | | | | |")
    else:
        lines.append("No benchmark failed or was inconclusive.")
    lines += ["", f"Capacity gate: {capacity}", ""]
    lines.append(f"Full report: [the perf-report artifact]({link})." if link else "Full report: not linked.")
    return "\n".join([*lines, ""])


def _row(run: Run, v: Verdict) -> str:
    ab = v.ab
    ratio = words.fmt_x(ab.ratio) if ab and math.isfinite(ab.ratio) else "-"
    span = words.interval(ab) if ab else "-"
    most = words.fmt_x(ab.detectable_80) if ab else "-"
    why = words.reason(v)
    if v.status == "FAIL" and ab is not None and ab.outcome == "regressed":
        head = run.benches.get(v.name)
        base = run.base.benches.get(v.name) if run.base else None
        why = f"{why}; {words.blame(v, head, base)}"
    why = why.replace("|", "\\|")
    return f"| `{v.name}` | {v.status} | {ratio} | {span} | {most} | {why} |"
