"""The real-world reference data the synthetic doctors are drawn from (fixtures/*.csv, fixtures/*.json).

Kept as files, not code, so a reviewer can check them against their sources (Anatel's DDD table, CFM's
list of specialties, IBGE's most common names) and change a weight without touching the generator.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from julia.paths import project_file


@dataclass(frozen=True)
class Ddd:
    """An area code, the main city it serves (where its hospitals are) and its share of doctors."""

    ddd: str
    cidade: str
    estado: str
    capital: bool
    peso: float


@dataclass(frozen=True)
class Especialidade:
    nome: str
    tag: str  # the campaign tag doctors of this specialty carry ('cardiologia')
    peso_medicos: float  # share of doctors
    peso_vagas: float  # share of shifts: emergency and ICU staff far more shifts than they have doctors


@dataclass(frozen=True)
class Period:
    nome: str
    hora_inicio: dt.time
    hora_fim: dt.time
    horas: int
    overnight_one: bool
    peso: float


@dataclass(frozen=True)
class Reference:
    ddds: tuple[Ddd, ...]
    especialidades: tuple[Especialidade, ...]
    periodos: tuple[Period, ...]
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    hospital_templates: tuple[str, ...]
    messages: dict[str, list[str]]  # medico / julia / humano / fila: texts the SQL expansion picks from


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def load_reference(folder: Path | None = None) -> Reference:
    base = folder or project_file("fixtures")
    names = _json(base / "nomes.json")
    messages = _json(base / "mensagens.json")
    return Reference(
        ddds=tuple(
            Ddd(r["ddd"], r["cidade"], r["estado"], r["capital"] == "1", float(r["peso"]))
            for r in _rows(base / "ddds.csv")
        ),
        especialidades=tuple(
            Especialidade(r["nome"], r["tag"], float(r["peso_medicos"]), float(r["peso_vagas"]))
            for r in _rows(base / "especialidades.csv")
        ),
        periodos=tuple(
            Period(
                r["nome"],
                dt.time.fromisoformat(r["hora_inicio"]),
                dt.time.fromisoformat(r["hora_fim"]),
                int(r["horas"]),
                r["noturno"] == "1",
                float(r["peso"]),
            )
            for r in _rows(base / "periodos.csv")
        ),
        first_names=tuple(names["primeiros"]),
        surnames=tuple(names["sobrenomes"]),
        hospital_templates=tuple(_json(base / "hospitais.json")["modelos"]),
        messages={key: list(value) for key, value in messages.items() if not key.startswith("_")},
    )
