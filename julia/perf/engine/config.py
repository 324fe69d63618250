"""perf/perf.toml: where the engine's files are, every path relative to the file itself.

Found explicitly (`--config FILE`) or as perf/perf.toml in the working directory or one of its parents,
never guessed from where the code is installed: an installed wheel has no checkout next to it, and the
files belong to the project being measured, not to the engine.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from julia.perf.engine.errors import PerfError

NAME = Path("perf") / "perf.toml"


@dataclass(frozen=True)
class Project:
    """Who the engine measures, as perf.toml's [project] names it: nothing in the engine names a project,
    its variables, its databases or its scale itself, so it measures another project unchanged."""

    name: str  # in titles, the exports' "project", the stamp's `<name>_version`
    command: str  # how people run the engine there (quoted in reports and hints)
    suite: str  # the folder each side's pytest runs, relative to the side's checkout
    scale: str  # what the scale counts (the stamp's key, the budgets' [gate] scale, the reports' words)
    variables: str  # the environment variables handed to each side: `<variables>_TURNS`, `_SIDE`, ...
    databases: str  # each side's database: `<databases>_head`, `<databases>_base`
    sources: tuple[str, ...]  # folders of the project's own code (a profile's functions outside: foreign)

    def variable(self, word: str) -> str:
        return f"{self.variables}_{word}"

    def database(self, side: str) -> str:
        return f"{self.databases}_{side}"

    @property
    def version_key(self) -> str:
        """The stamp's key for the measured project's version (results have always had it so)."""
        return f"{self.name}_version"

    def said(self) -> dict[str, str]:
        """What a run's stamp records of it, so a results file renders in its project's words anywhere."""
        return {"name": self.name, "command": self.command, "scale": self.scale}

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Project:
        return cls(
            name=str(raw["name"]),
            command=str(raw["command"]),
            suite=str(raw["suite"]),
            scale=str(raw["scale"]),
            variables=str(raw["variables"]),
            databases=str(raw["databases"]),
            sources=tuple(str(s) for s in raw["sources"]),
        )


@dataclass(frozen=True)
class Config:
    path: Path  # the perf.toml read
    project: Project  # who is measured: names, variables, databases, the test folder, the scale
    root: Path  # the checkout an A/B run measures (its history holds the base commit)
    budgets: Path  # the budgets file the gate judges against
    baselines: Path  # one baseline JSON per machine class
    calibration: Path  # the gate's measured accuracy, one JSON per machine class
    history: Path  # one trend JSONL per machine class
    out: Path  # results.json, the report, the base's worktree
    turn_modules: tuple[str, ...]  # where a checkout keeps the turn protocol, relative to its root
    server_applications: tuple[str, ...] = ()  # servers the sides start: their backends stay unpinned

    @property
    def results(self) -> Path:
        return self.out / "results.json"


def find(explicit: Path | None = None, start: Path | None = None) -> Config:
    """`explicit`, else perf/perf.toml in `start` (default: the working directory) or its parents."""
    if explicit is not None:
        if not explicit.is_file():
            raise PerfError(f"no perf config at {explicit}")
        return load(explicit)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / NAME).is_file():
            return load(folder / NAME)
    raise PerfError(f"no {NAME} in {here} or its parents: run inside the checkout or pass --config FILE")


def load(path: Path) -> Config:
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text())
        paths = raw["paths"]

        def at(key: str) -> Path:
            return (path.parent / str(paths[key])).resolve()

        return Config(
            path=path,
            project=Project.load(raw["project"]),
            root=at("root"),
            budgets=at("budgets"),
            baselines=at("baselines"),
            calibration=at("calibration"),
            history=at("history"),
            out=at("out"),
            turn_modules=tuple(str(m) for m in raw["ab"]["turn_modules"]),
            server_applications=tuple(str(a) for a in raw["ab"].get("server_applications", ())),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise PerfError(f"{path} is not a perf config ({type(exc).__name__}: {exc})") from exc
