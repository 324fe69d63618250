"""Imports point one way (README, Layout): the API and the worker reach the data layer only through
services, the API and the health check never reach into the worker, services never into the API or the
worker, the cache into none of the three, no production module imports the fakes in julia.testing, and the
perf engine (julia.perf.engine) imports nothing of julia outside itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import julia

ROOT = Path(julia.__file__).parent
FORBIDDEN = {
    "api": ("julia.worker", "julia.data", "julia.testing"),
    "health.py": ("julia.worker",),
    "services": ("julia.api", "julia.worker", "julia.testing"),
    "data": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    "cache": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    "integrations": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    # The worker reaches tables only through services (julia/services/queues.py for its queues).
    "worker": ("julia.api", "julia.testing", "julia.data"),
}


def _imported(file: Path) -> set[str]:
    names: set[str] = set()
    for no in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(no, ast.Import):
            names.update(a.name for a in no.names)
        elif isinstance(no, ast.ImportFrom) and no.module:
            names.add(no.module)
            names.update(f"{no.module}.{a.name}" for a in no.names)
    return names


ENGINE = ROOT / "perf" / "engine"


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_nothing_imports_in_the_wrong_direction(part: str) -> None:
    caminho = ROOT / part
    files = sorted(caminho.rglob("*.py")) if caminho.is_dir() else [caminho]
    wrong_ones = [
        f"{a.relative_to(ROOT)} imports {nome}"
        for a in files
        for nome in sorted(_imported(a))
        if nome.startswith(FORBIDDEN[part])
    ]
    assert wrong_ones == []


def test_the_perf_engine_does_not_import_julia() -> None:
    """The engine is configured and fed by its caller (julia/commands/perf.py, perf/conftest.py): any
    import of julia's own code (servers, errors, paths, settings) would tie it to this service again."""
    assert sorted(ENGINE.glob("*.py"))
    wrong_ones = [
        f"{a.relative_to(ROOT)} imports {nome}"
        for a in sorted(ENGINE.rglob("*.py"))
        for nome in sorted(_imported(a))
        if (nome == "julia" or nome.startswith("julia.")) and not nome.startswith("julia.perf.engine")
    ]
    assert wrong_ones == []
