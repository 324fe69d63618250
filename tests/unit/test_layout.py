"""The tests' layout (CONTRIBUTING.md, Tests): tiers at the top of tests/, components inside them, never
both mixed at the top."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = {"unit", "integration", "service", "acceptance", "faults", "docs", "migration"}
# What may sit beside the tiers: the helpers they share, the package marker and the fixtures of every tier.
BESIDE = {"support", "__init__.py", "conftest.py", "__pycache__"}


def test_every_test_file_sits_under_a_tier() -> None:
    outside = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.relative_to(TESTS).parts[0] not in TIERS
    ]
    assert outside == []


def test_only_tiers_and_support_at_the_top() -> None:
    strangers = sorted(entry.name for entry in TESTS.iterdir() if entry.name not in TIERS | BESIDE)
    assert strangers == []
