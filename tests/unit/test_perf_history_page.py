"""reports/out/history.html (julia.perf.engine.history_page) from a history with a step, a creep and
counters that moved: its sections, the points linked to their commits, the changes marked, and the page in
a real browser (Debian's chromium, headless): not blank, nothing wider than a 1400 px window."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from julia.perf.engine import changes, history_page
from tests.unit.test_perf_changes import history
from tests.unit.test_perf_report import _chromium


@pytest.fixture(scope="module")
def lines() -> list[dict[str, Any]]:
    counters = [{"pg_statements": 2 if i >= 25 else 1, "plan": "Index Scan"} for i in range(40)]
    found = history([1.0] * 14 + [1.2] + [1.0] * 13 + [1.03] * 12, counters=counters)
    for i, line in enumerate(found):  # a second benchmark, unchanged
        line["benches"]["floor_pg_select1"] = history([1.0] * 40, seed=7)[i]["benches"]["query_warm"]
        line["started_at"] = f"2026-12-{1 + i // 2:02d}T04:00:00+00:00"
    return found


@pytest.fixture(scope="module")
def page(lines: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    found, drifts = changes.report(lines)
    out = tmp_path_factory.mktemp("history")
    return history_page.render(lines, "x86_64-2cpu-pg18", found, drifts, out, "https://example.com/c/{}")


def test_one_section_per_benchmark_with_its_chart_changes_and_counters(page: Path) -> None:
    text = page.read_text()
    assert text.count("<section>") == 2
    assert text.count("<svg") == 2  # inline, so its points' links work
    assert re.search(
        r"<li>step in <a href='#c-c14'>c14</a>..<a href='#c-c15'>c15</a>: 1\.(19|20|21)\dx", text
    )
    assert "last 12 commits (c29..c40)" in text
    assert ": past it</p>" in text
    assert "(pg_statements)" in text
    assert "<tr><td>pg_statements</td><td class='words'>1</td><td class='words'>2</td><td>1</td></tr>" in text


def test_every_point_links_to_its_commit_row_and_the_row_to_the_commit_page(page: Path) -> None:
    text = page.read_text()
    linked = set(re.findall(r'xlink:href="#c-(c\d+)"', text))
    assert {f"c{i}" for i in range(1, 41)} <= linked
    rows = set(re.findall(r"<tr id='c-(c\d+)'>", text))
    assert rows == {f"c{i}" for i in range(1, 41)}
    assert "<a href='https://example.com/c/c15'>c15</a>" in text


def test_in_a_browser_the_page_draws_and_nothing_is_wider_than_1400px(page: Path, tmp_path: Path) -> None:
    from matplotlib import image

    shot = tmp_path / "history.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", page.resolve().as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (900, 1400)
    assert (pixels[:, :, :3] < 0.9).mean() > 0.01  # text and charts, not a white page
    probe = page.with_name("probe.html")
    probe.write_text(
        page.read_text().replace(
            "</body>",
            "<script>addEventListener('load',()=>{document.body.dataset.scrollWidth="
            "document.documentElement.scrollWidth;document.body.dataset.links="
            "document.querySelectorAll('svg a').length})</script></body>",
        )
    )
    sun = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri())
    width = re.search(r'data-scroll-width="(\d+)"', sun.stdout)
    links = re.search(r'data-links="(\d+)"', sun.stdout)
    assert width, sun.stderr[-2000:]
    assert links
    assert int(width.group(1)) <= 1400
    assert int(links.group(1)) >= 80  # two charts of 41 points, each a link in the rendered DOM


def test_a_history_without_same_run_ratios_says_so(tmp_path: Path) -> None:
    old = [
        {"git_commit": f"c{i}", "benches": {"query_warm": {"p50": 0.1, "ratio_p50": 2.0}}} for i in range(3)
    ]
    page = history_page.render(old, "x86_64-2cpu-pg18", [], [], tmp_path).read_text()
    assert "No benchmark has two same-run ratios yet" in page
    assert page.count("<tr id='c-") == 3
