"""The perf report rendered from synthetic runs (a failing, an inconclusive and an ok benchmark, with a
base measured beside the head): the page's structure and words, the Markdown summary, the
pytest-benchmark export read back by pytest-benchmark's own CLI, and the page in a real browser (Debian's
chromium, headless): a screenshot that is not blank, and nothing wider than a 1400 px window."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from julia.perf.context import PROJECT
from julia.perf.engine import report, words
from julia.perf.engine.gate import Budget, Budgets, Verdict, judge
from julia.perf.engine.results import Bench, Run

BLOCK = 50
CHROMIUM = shutil.which("chromium")
INSTALL = "apt-get update -qq && apt-get install -y -qq chromium"
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
]


def _sides(
    median: float, factor: float, blocks: int, mood: float, seed: int
) -> tuple[list[float], list[float]]:
    """Base and head samples in `blocks` blocks of BLOCK; each pair of blocks shares the machine's mood."""
    rng = np.random.default_rng(seed)
    head: list[float] = []
    base: list[float] = []
    for m in rng.normal(0.0, mood, blocks):
        base += list(median * np.exp(m) * rng.lognormal(0.0, 0.15, BLOCK))
        head += list(median * factor * np.exp(m) * rng.lognormal(0.0, 0.15, BLOCK))
    return head, base


# A long plan, as the vagas query's: the page must wrap it, not scroll sideways.
LONG_PLAN = (
    "Limit > Sort > Hash Join > Hash Join > Bitmap Heap Scan > Bitmap Index Scan[idx_x] > Hash > Seq Scan"
)
LONG_PLAN += " > Hash > Seq Scan[hospitais] > Memoize > Nested Loop Left Join"


def _tree(scan: dict[str, object]) -> list[dict[str, object]]:
    """An EXPLAIN tree as julia.perf.engine.explain keeps it: a Limit over one scan."""
    limit = {"depth": 0, "node": "Limit", "rows_estimated": 1, "rows_actual": 1, "loops": 1}
    blocks = int(str(scan["shared_hit"])) + int(str(scan["shared_read"]))
    return [{**limit, "shared_hit": blocks, "shared_read": 0}, {"depth": 1, **scan}]


INDEX_SCAN = {"node": "Index Scan", "relation": "vagas", "index": "idx_x", "rows_estimated": 1}
INDEX_SCAN |= {"rows_actual": 1, "loops": 1, "shared_hit": 4, "shared_read": 0}
SEQ_SCAN = {"node": "Seq Scan", "relation": "vagas", "rows_estimated": 1, "rows_actual": 1, "loops": 1}
SEQ_SCAN |= {"shared_hit": 812, "shared_read": 3}
# A long statement, as julia's named SQL is: the statement table must wrap it.
STATEMENT = (
    "SELECT v.id, v.data, v.inicio, v.fim, h.nome FROM vagas v JOIN hospitais h ON h.id = v.hospital_id "
)
STATEMENT += "WHERE v.especialidade_id = $1 AND v.status = $2 AND v.data >= $3 ORDER BY v.data LIMIT $4"


def _statements(extra: bool) -> list[dict[str, object]]:
    rows = [
        {"query": STATEMENT, "query_id": 1, "calls": 1.0, "rows": 5.0, "blocks": 4.0, "source": "x.sql:q"}
    ]
    extra_row = {"query": "SELECT $1", "query_id": 2, "calls": 1.0, "rows": 1.0, "blocks": 0.0}
    return rows + ([extra_row] if extra else [])


def _counters(mean_exec_ms: float) -> dict[str, object]:
    return {
        "rows": 1,
        "buffers": 3,
        "plan_nodes": LONG_PLAN.split(" > "),
        "plan_indexes": ["idx_x"],
        "pgss": {"calls": 2000, "rows_per_call": 1.0, "blocks_per_call": 3.0, "mean_exec_ms": mean_exec_ms},
        "pg_statements": 1,
        "pg_pool_resets": 0,
        "redis_commands": 0,
        "units_counted": 30,
    }


def _runs() -> tuple[Run, Run]:
    """(head with its base inside, a stored baseline)."""
    stamp = {
        "machine_class": "x86_64-2cpu-pg18",
        "project": PROJECT.said(),
        "doctors": 1000,
        "git_commit": "abc1234",
        "julia_version": "0.1.0",
        "postgres": "18.1",
        "servers": "embedded",
        "python": "3.11.2",
        "injected": None,
        "started_at": "2026-12-01T15:00:00+00:00",
        "seed": {
            "seed": 42,
            "today": "2026-11-25",
            "checksum": "deadbeefcafe0011",
            "rows": {"clientes": 1000},
        },
        "ab": {
            "base_ref": None,
            "base_commit": "def5678900",
            "why": "base def567890000: merge-base with main (a pull request)",
            "seconds": 300,
        },
    }
    head = Run(dict(stamp))
    base = Run(dict(stamp, git_commit="def5678"))
    cases = {  # name: (median ms, head/base factor, blocks, mood)
        "floor_pg_select1": (0.05, 1.0, 24, 0.05),
        "query_x_warm": (0.10, 1.5, 24, 0.05),  # fails: the whole interval above 1.10
        "query_y_warm": (0.10, 1.1, 8, 0.35),  # inconclusive: straddles 1.10
        "query_z_warm": (0.10, 1.0, 24, 0.05),  # ok: below 1.10
    }
    for k, (name, (median, factor, blocks, mood)) in enumerate(cases.items()):
        h, b = _sides(median, factor, blocks, mood, seed=k)
        floor = None if name.startswith("floor") else "floor_pg_select1"
        server = 0.03 if name == "query_x_warm" else 0.015  # the failing one's server time doubled
        group = "floor" if floor is None else "query_warm"
        head_counters, base_counters = _counters(server), _counters(0.015)
        if name == "query_x_warm":  # the failing one: its plan lost idx_x and a statement was added
            head_counters |= {"plan_tree": _tree(SEQ_SCAN), "pg_by_statement": _statements(True)}
            head_counters |= {"redis_by_command": {"get": 1, "set": 1}}
            base_counters |= {"plan_tree": _tree(INDEX_SCAN), "pg_by_statement": _statements(False)}
            base_counters |= {"redis_by_command": {"get": 1}}
        head.add(Bench(name, group, floor, h, head_counters, blocks=[BLOCK] * blocks))
        base.add(Bench(name, group, floor, b, base_counters, blocks=[BLOCK] * blocks))
    burst_head, burst_base = _sides(20.0, 1.0, 1, 0.0, seed=9)
    head.add(Bench("webhook_burst_1000doctors", "webhook", None, burst_head, blocks=[BLOCK]))
    base.add(Bench("webhook_burst_1000doctors", "webhook", None, burst_base, blocks=[BLOCK]))
    head.base = base
    baseline = Run(dict(stamp, git_commit="0ld0000", started_at="2026-11-25T04:00:00+00:00"))
    for bench in base.benches.values():
        baseline.add(Bench(bench.name, bench.group, bench.floor, [s * 0.8 for s in bench.samples_ms]))
    return head, baseline


BUDGETS = Budgets(
    {
        "floor_pg_select1": Budget(ceiling_ms=10),
        "query_x_warm": Budget(ceiling_ms=100, indexes=("idx_x",)),
        "query_y_warm": Budget(ceiling_ms=100),
        "query_z_warm": Budget(ceiling_ms=100),
        "webhook_burst_1000doctors": Budget(ceiling_ms=2000),
    }
)

HISTORY = [
    {
        "started_at": f"2026-11-{20 + i}T04:00:00+00:00",
        "git_commit": f"c{i}mmit0",
        "project": PROJECT.said(),
        "doctors": 1000,
        "benches": {
            name: {"p50": 0.1 * (1 + i / 10), "p95": 0.2, "p99": 0.3, "ratio_p50": 2.0}
            for name in BUDGETS.benches
        },
    }
    for i in range(6)
]


@pytest.fixture(scope="module")
def judged() -> tuple[Run, list[Verdict]]:
    head, baseline = _runs()
    return head, judge(head, BUDGETS, baseline)


@pytest.fixture(scope="module")
def rendered(judged: tuple[Run, list[Verdict]], tmp_path_factory: pytest.TempPathFactory) -> report.Rendered:
    head, verdicts = judged
    _, baseline = _runs()
    return report.render(head, verdicts, baseline, HISTORY, tmp_path_factory.mktemp("report"))


def test_the_synthetic_run_has_one_of_each_status(judged: tuple[Run, list[Verdict]]) -> None:
    _, verdicts = judged
    status = {v.name: v.status for v in verdicts}
    assert status == {
        "floor_pg_select1": "ok",
        "query_x_warm": "FAIL",
        "query_y_warm": "inconclusive",
        "query_z_warm": "ok",
        "webhook_burst_1000doctors": "inconclusive",
    }
    assert words.counts(verdicts).text() == "1 failed / 2 inconclusive / 2 ok"


class _Outline(HTMLParser):
    """The page's headings and images in document order, and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.images: list[str] = []
        self._open: str | None = None
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style = tag in ("style", "script")
        if tag in ("h1", "h2", "h3"):
            self._open = tag
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._open:
            self.order.append((self._open, data.strip()))
        if not self._style:
            self.text.append(data)


def _outline(page: Path) -> _Outline:
    parsed = _Outline()
    parsed.feed(page.read_text())
    return parsed


def test_the_banner_comes_first_with_the_counts_and_the_ab_context(rendered: report.Rendered) -> None:
    page = rendered.page.read_text()
    banner = page[page.index("<header") : page.index("</header>")]
    assert "julia perf gate FAILED" in banner
    assert "1 failed / 2 inconclusive / 2 ok" in banner
    assert "head abc1234 vs base def5678900" in banner
    assert page.index("</header>") < page.index("<table")  # nothing before the verdict
    start = page.index("<ul class='glance'>")
    glance = page[start : page.index("</ul>", start)]
    assert [m for m in re.findall(r"href='#(\w+)'", glance)] == [
        "query_x_warm",
        "query_y_warm",
        "webhook_burst_1000doctors",
    ]
    assert "id='query_x_warm'" in page


def test_failing_and_inconclusive_come_first_each_with_its_evidence(rendered: report.Rendered) -> None:
    outline = _outline(rendered.page)
    headings = [text for _, text in outline.order]
    assert headings.index("query_x_warm: FAIL") < headings.index("query_y_warm: inconclusive")
    assert headings.index("query_y_warm: inconclusive") < headings.index("All benchmarks")
    assert "webhook_burst_1000doctors: inconclusive" in headings
    page = rendered.page.read_text()
    failing = html.unescape(page[page.index("query_x_warm: FAIL") : page.index("query_y_warm: inconclusive")])
    assert "95% interval" in failing
    assert "threshold" in failing
    assert "slowdown this run catches half the time (50% power)" in failing
    assert "slowdown this run catches 4 times in 5 (80% power)" in failing
    # The server's own time doubled: the report blames the database, not the code around it.
    assert "server execution 0.0150 => 0.0300 ms (2.000x)" in failing
    assert "the database's own work moved" in failing
    assert "outside the database" not in failing
    assert "charts/query_x_warm.png" in failing
    for image in outline.images:
        assert (rendered.page.parent / image).is_file()


def test_every_status_has_a_reason_in_plain_words(rendered: report.Rendered) -> None:
    page = rendered.page.read_text()
    table = page[page.index("All benchmarks") :]
    assert "interval below 1.10x" in table
    assert "one block per side: too few for a timing verdict" in table
    assert re.search(r"interval [0-9.]+x-[0-9.]+x straddles 1.1x", table)
    assert "regression: " in table


def test_no_python_reprs_and_drift_and_history_are_there(rendered: report.Rendered) -> None:
    text = " ".join(_outline(rendered.page).text)
    for repr_ in (r"\bNone\b", r"\{'", r"\bnan\b", r"\binf\b"):
        assert not re.search(repr_, text), repr_
    headings = [t for _, t in _outline(rendered.page).order]
    assert "Drift from the stored baseline (information only)" in headings
    assert "History" in headings
    history = sorted((rendered.page.parent / "charts" / "history").glob("*.png"))
    assert [p.stem for p in history] == sorted(BUDGETS.benches)
    assert "seed 42, day 2026-11-25, checksum deadbeefcafe: clientes 1,000" in text


def test_the_markdown_summary_names_the_verdict_and_the_rows_to_look_at(rendered: report.Rendered) -> None:
    md = rendered.summary.read_text()
    lines = md.splitlines()
    # The first line names the base and why it was chosen (a job summary is read from the top).
    assert lines[0] == (
        "## julia perf gate FAILED: 1 failed / 2 inconclusive / 2 ok; "
        "base def567890000: merge-base with main (a pull request)"
    )
    rows = [line for line in lines if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [
        "query_x_warm",
        "query_y_warm",
        "webhook_burst_1000doctors",
    ]
    assert "| FAIL |" in rows[0]
    assert "query_z_warm" not in md
    assert "| caught at 50% power | at 80% |" in md
    inconclusive = rows[1].split(" | ")
    half, most = (float(cell.rstrip("x")) for cell in inconclusive[4:6])
    assert 1.1 < half < most  # 80% power needs a larger slowdown than 50%
    assert "half the time" in rows[1]
    assert "4 times in 5" in rows[1]


def test_an_uncalibrated_class_says_so_first_in_the_summary_and_the_banner(
    judged: tuple[Run, list[Verdict]], tmp_path: Path
) -> None:
    head, verdicts = judged
    line = "machine class x86_64-4cpu-pg18-url is NOT calibrated"
    rendered = report.render(head, verdicts, None, [], tmp_path, None, uncalibrated=line)
    md = rendered.summary.read_text().splitlines()
    assert md[2] == f"**{line}**"  # right under the verdict
    banner = html.unescape(rendered.page.read_text().split("</header>")[0])
    assert line in banner


def test_pytest_benchmark_json_is_in_seconds_and_its_cli_reads_it(
    judged: tuple[Run, list[Verdict]], rendered: report.Rendered
) -> None:
    head, _ = judged
    doc = json.loads(rendered.export.read_text())
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert doc["commit_info"]["id"] == "abc1234"
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    assert head.base is not None
    assert set(by_name) == set(head.benches) | {f"{name}[base]" for name in head.base.benches}
    assert by_name["query_x_warm"]["params"] == {"side": "head"}
    assert by_name["query_x_warm[base]"]["params"] == {"side": "base"}
    base_median = float(np.median(head.base.benches["query_x_warm"].samples_ms)) / 1000
    assert by_name["query_x_warm[base]"]["stats"]["median"] == pytest.approx(base_median)
    # The verdict travels with the head: what another tool must not re-judge across machines.
    verdict = by_name["query_x_warm"]["extra_info"]["verdict"]
    assert verdict["status"] == "FAIL"
    assert verdict["outcome"] == "regressed"
    low, high = verdict["interval_95"]
    assert 1.1 < low < verdict["head_base_ratio"] < high
    assert verdict["caught_at_50pct_power"] < verdict["caught_at_80pct_power"]
    assert by_name["webhook_burst_1000doctors"]["extra_info"]["verdict"]["interval_95"] == [None, None]
    stats = by_name["query_x_warm"]["stats"]
    fields = {"min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers"}
    fields |= {"stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total", "data"}
    assert fields <= set(stats)
    samples = head.benches["query_x_warm"].samples_ms
    assert stats["rounds"] == len(samples)
    assert stats["median"] == pytest.approx(float(np.median(samples)) / 1000)
    assert stats["ops"] == pytest.approx(len(samples) / (sum(samples) / 1000))
    cli = Path(sys.executable).parent / "py.test-benchmark"
    out = subprocess.run(
        [str(cli), "compare", str(rendered.export)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "query_x_warm" in out.stdout


def test_bencher_metric_format_keeps_the_ratio_and_its_interval(
    judged: tuple[Run, list[Verdict]], rendered: report.Rendered
) -> None:
    _, verdicts = judged
    doc = json.loads(rendered.bencher.read_text())
    failing = next(v for v in verdicts if v.name == "query_x_warm")
    assert failing.ab is not None
    assert doc["query_x_warm"]["head-base-ratio"] == {
        "value": pytest.approx(failing.ab.ratio),
        "lower_value": pytest.approx(failing.ab.low),
        "upper_value": pytest.approx(failing.ab.high),
    }
    assert doc["query_x_warm"]["latency"]["value"] == pytest.approx(failing.summary.p50 * 1e6)  # ns
    assert failing.base_summary is not None
    assert doc["query_x_warm"]["base-latency"]["value"] == pytest.approx(failing.base_summary.p50 * 1e6)
    # One block per side: a ratio with no interval, so no bounds rather than infinities JSON cannot hold.
    assert set(doc["webhook_burst_1000doctors"]["head-base-ratio"]) == {"value"}
    for measures in doc.values():  # Bencher's schema: every metric has a number as its value
        for metric in measures.values():
            assert all(isinstance(x, float) for x in metric.values())


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip(f"chromium is not installed (Debian: {INSTALL})")
    return subprocess.run(
        [CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_in_a_browser_the_banner_shows_and_nothing_is_wider_than_1400px(
    rendered: report.Rendered, tmp_path: Path
) -> None:
    from matplotlib import image

    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", rendered.page.resolve().as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (900, 1400)
    banner = pixels[:80, :, :3]
    assert (banner < 0.9).mean() > 0.5  # the red banner, not a white page

    # The same page with a script that writes its scroll width into the DOM once everything has loaded.
    probe = rendered.page.with_name("probe.html")
    probe.write_text(
        rendered.page.read_text().replace(
            "</body>",
            "<script>addEventListener('load',()=>{document.body.dataset.scrollWidth="
            "document.documentElement.scrollWidth})</script></body>",
        )
    )
    sun = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri())
    found = re.search(r'data-scroll-width="(\d+)"', sun.stdout)
    assert found, sun.stderr[-2000:]
    assert int(found.group(1)) <= 1400


def test_without_a_base_the_banner_says_why_and_every_reason_says_budgets_only(tmp_path: Path) -> None:
    head, _ = _runs()
    head.base = None
    head.stamp["ab"] = {"base_ref": None, "base_commit": None, "why": "--no-base: the head alone"}
    verdicts = judge(head, BUDGETS)
    rendered = report.render(head, verdicts, None, [], tmp_path)
    page = html.unescape(rendered.page.read_text())
    assert "julia perf gate passed" in page
    assert "0 failed / 0 inconclusive / 5 ok" in page
    assert "no base (--no-base: the head alone)" in page
    assert page.count("budgets held; no base in this run for a timing verdict") == len(verdicts)
    assert "No stored baseline for this machine class" in page
    assert "No benchmark failed or was inconclusive." in rendered.summary.read_text()


def test_blame_says_outside_the_database_only_when_the_server_time_held(
    judged: tuple[Run, list[Verdict]],
) -> None:
    head, verdicts = judged
    slow = next(v for v in verdicts if v.name == "query_x_warm")
    assert head.base is not None
    base = head.base.benches["query_x_warm"]
    held = Bench(base.name, base.group, base.floor, base.samples_ms, _counters(0.0155))
    assert "the time went outside the database" in words.blame(slow, held, base)
    moved = Bench(base.name, base.group, base.floor, base.samples_ms, _counters(0.0310))
    assert "the database's own work moved" in words.blame(slow, moved, base)
    assert "no server time recorded" in words.blame(slow, Bench("m", "g", None, [1.0]), base)


def test_each_verdict_shows_the_calibrated_accuracy_of_its_threshold(
    judged: tuple[Run, list[Verdict]], tmp_path: Path
) -> None:
    """Counted at this run's threshold from the calibration's stored A/A intervals, not copied from it."""
    head, verdicts = judged
    lows = [0.90, 0.97, 1.0, 1.12]  # the last would fail a 1.10 threshold; 1.2x lifts all but the first
    calibration = {
        "machine_class": "test",
        "git_commit": "abc1234",
        "when": "2026-12-02T04:00:00+00:00",
        "runs": len(lows),
        "benches": {"query_z_warm": {"aa_intervals": [[1.0, low, low + 0.1] for low in lows]}},
    }
    page = html.unescape(report.render(head, verdicts, None, [], tmp_path, calibration).page.read_text())
    row = next(line for line in page.split("<tr") if ">query_z_warm<" in line)
    assert "<td>1/4</td><td>3/4</td>" in row
    assert "of the 4 A/A runs of perf/calibration/test.json (commit abc1234" in page


def test_the_harness_share_of_a_floor_is_shown_beside_the_c_client(
    judged: tuple[Run, list[Verdict]], tmp_path: Path
) -> None:
    head, verdicts = judged
    floor = head.benches["floor_pg_select1"]
    with_native = Run(head.stamp, dict(head.benches), head.base)
    with_native.benches[floor.name] = Bench(
        floor.name,
        floor.group,
        None,
        floor.samples_ms,
        {"native_client": "pgbench -M prepared", "native_ms": 0.02},
        blocks=floor.blocks,
    )
    mean = sum(floor.samples_ms) / len(floor.samples_ms)
    page = html.unescape(report.render(with_native, verdicts, None, [], tmp_path).page.read_text())
    row = next(line for line in page.split("<tr") if ">floor_pg_select1<" in line and "pgbench" in line)
    assert f"<td>{1 - 0.02 / mean:.0%}</td>" in row
    none_given = report.render(head, verdicts, None, [], tmp_path / "plain").page.read_text()
    assert "harness's own share" not in none_given


PLAN_CAUSE = "plan changed: Index Scan using idx_x on vagas -> Seq Scan on vagas"


def test_the_likely_cause_is_in_the_banner_the_summary_and_the_terminal(
    judged: tuple[Run, list[Verdict]], rendered: report.Rendered
) -> None:
    head, verdicts = judged
    page = html.unescape(rendered.page.read_text())
    banner = page[page.index("<header") : page.index("</header>")]
    assert f"query_x_warm</strong> (FAIL): {PLAN_CAUSE}" in banner
    assert "query_y_warm</strong> (inconclusive): no attributable change" in banner
    md = rendered.summary.read_text()
    assert f"- `query_x_warm` (FAIL): {PLAN_CAUSE}" in md
    assert "- `query_y_warm` (inconclusive): no attributable change" in md
    assert "query_z_warm" not in md
    terminal = report.terminal(verdicts, head)
    assert f"FAIL         query_x_warm: {PLAN_CAUSE}" in terminal.split("likely cause:")[1]
    asked = report.terminal(verdicts, head, ["query_z_warm"]).split("likely cause:")[1]
    assert "ok           query_z_warm: no attributable change" in asked


def test_the_evidence_shows_the_statement_redis_and_plan_diffs(rendered: report.Rendered) -> None:
    page = rendered.page.read_text()
    failing = html.unescape(page[page.index("query_x_warm: FAIL") : page.index("query_y_warm: inconclusive")])
    ranked = failing[failing.index("<ol class='ranked'>") : failing.index("</ol>")]
    assert ranked.index(PLAN_CAUSE) < ranked.index("+1 statement per unit: <code>SELECT $1</code>")
    assert "+1 Redis SET per unit (0 -> 1)" in ranked
    statements = failing[failing.index("Statements per unit that moved") :]
    assert "<td class='words'>SELECT $1</td>" in statements
    plan = failing[failing.index("The plan, node by node") :]
    first = next(row for row in plan.split("<tr") if "first difference" in row)
    assert "Seq Scan on vagas" in first
    assert "Index Scan using idx_x on vagas" in first
    assert "<td>815</td>" in first  # the head's blocks, beside the base's 4
    # The inconclusive one moved nothing: it says so rather than showing empty tables.
    other = html.unescape(page[page.index("query_y_warm: inconclusive") : page.index("All benchmarks")])
    assert "no attributable change." in other
    assert "The plan, node by node" not in other
