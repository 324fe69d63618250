"""Imports point one way (README, Layout): the API and the worker reach the data layer only through
services, the API and the health check never reach into the worker, services never into the API or the
worker, the cache into none of the three, no production module imports the fakes in julia.testing, and the
perf engine (julia.perf.engine) imports nothing of julia outside itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import julia

RAIZ = Path(julia.__file__).parent
PROIBIDOS = {
    "api": ("julia.worker", "julia.data", "julia.testing"),
    "health.py": ("julia.worker",),
    "services": ("julia.api", "julia.worker", "julia.testing"),
    "data": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    "cache": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    "integrations": ("julia.api", "julia.worker", "julia.services", "julia.testing"),
    # The worker reaches tables only through services (julia/services/queues.py for its queues).
    "worker": ("julia.api", "julia.testing", "julia.data"),
}


def _importados(arquivo: Path) -> set[str]:
    nomes: set[str] = set()
    for no in ast.walk(ast.parse(arquivo.read_text(), str(arquivo))):
        if isinstance(no, ast.Import):
            nomes.update(a.name for a in no.names)
        elif isinstance(no, ast.ImportFrom) and no.module:
            nomes.add(no.module)
            nomes.update(f"{no.module}.{a.name}" for a in no.names)
    return nomes


ENGINE = RAIZ / "perf" / "engine"


@pytest.mark.parametrize("parte", sorted(PROIBIDOS))
def test_nada_importa_na_direcao_errada(parte: str) -> None:
    caminho = RAIZ / parte
    arquivos = sorted(caminho.rglob("*.py")) if caminho.is_dir() else [caminho]
    errados = [
        f"{a.relative_to(RAIZ)} imports {nome}"
        for a in arquivos
        for nome in sorted(_importados(a))
        if nome.startswith(PROIBIDOS[parte])
    ]
    assert errados == []


def test_o_motor_de_perf_nao_importa_julia() -> None:
    """The engine is configured and fed by its caller (julia/commands/perf.py, perf/conftest.py): any
    import of julia's own code (servers, errors, paths, settings) would tie it to this service again."""
    assert sorted(ENGINE.glob("*.py"))
    errados = [
        f"{a.relative_to(RAIZ)} imports {nome}"
        for a in sorted(ENGINE.rglob("*.py"))
        for nome in sorted(_importados(a))
        if (nome == "julia" or nome.startswith("julia.")) and not nome.startswith("julia.perf.engine")
    ]
    assert errados == []
