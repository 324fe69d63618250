"""What one run measured, as JSON: a stamp saying where and on what it ran, and per benchmark the raw
samples (ms) next to the machine-independent counters (rows, buffers, plan shape, pg_stat_statements).

Runs are compared only within a machine class (architecture, the CPUs the run may use, Postgres major,
and where the servers run): the floor-normalised ratios travel reasonably well, but a 2-core laptop and a
32-core server do not queue alike, and a Postgres the run started for itself (tuned, autovacuum paused
server-wide, its backends pinned) is not one reached by URL, whose settings and processes are someone
else's. The gate's calibration is kept per machine class for that reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from julia.perf.engine.config import Project
from julia.perf.engine.placement import cores
from julia.perf.engine.vcs import git

# Where the servers run, as the caller resolved them (julia.servers.Servers.topology): "embedded"
# (started by the run, on this machine), "container" (started by the run in Docker) or "url" (reached by
# DATABASE_URL/REDIS_URL, someone else's: a CI service container, staging). An A/B run's sides are handed
# the servers by URL, so the run says which they really are through `<variables>_TOPOLOGY`.
TOPOLOGY = "TOPOLOGY"  # the variable's word (perf.toml's [project] variables prefixes it)
TOPOLOGIES = ("embedded", "container", "url")


def machine_class(pg_major: int, topology: str, variables: str) -> str:
    """`<arch>-<cpus>cpu-pg<major>-<topology>`: the key of the calibration, baseline and history files.
    `variables`: the project's prefix of the engine's variables (placement.cores reads one)."""
    base = f"{platform.machine()}-{cores(variables)}cpu-pg{pg_major}"
    return f"{base}-{topology}" if topology else base


# What pip installs from: the project's declaration plus any lockfile.
DEPENDENCY_FILES = ("pyproject.toml", "uv.lock", "requirements.lock")


def deps_hash(root: Path) -> str:
    """sha256 of a checkout's dependency files: equal for two checkouts that install the same things."""
    digest = hashlib.sha256()
    for name in DEPENDENCY_FILES:
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stamp(
    *,
    root: Path,
    project: Project,
    version: str,
    pg_major: int,
    pg_version: str,
    scale: int,
    origin: str,
    injected: str | None,
    seed_summary: dict[str, Any],
    topology: str = "",
) -> dict[str, Any]:
    """`root`: the checkout measured (its dependency files and commit); `project`: who it is (perf.toml);
    `version`: its version, under `<name>_version` (the key julia's results have always had); `scale`: how
    many of what the project's scale counts; `topology`: where the servers run (`<variables>_TOPOLOGY`
    overrides it: an A/B run knows better)."""
    topology = os.environ.get(project.variable(TOPOLOGY)) or topology
    return {
        "project": project.said(),
        "machine_class": machine_class(pg_major, topology, project.variables),
        "topology": topology or None,
        project.version_key: version,
        "deps_hash": deps_hash(root)[:16],
        "git_commit": git(root, "rev-parse", "--short", "HEAD"),
        "python": platform.python_version(),
        "postgres": pg_version,
        "servers": origin,
        project.scale: scale,
        "injected": injected,
        "seed": seed_summary,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def scale_of(stamp: dict[str, Any]) -> tuple[str, Any]:
    """What a run's scale counts, as its stamp's project said (`stamp`), and how many: ("scale", None)
    for a run that did not say."""
    axis = str((stamp.get("project") or {}).get("scale") or "scale")
    return axis, stamp.get(axis)


def project_of(stamp: dict[str, Any]) -> dict[str, str]:
    """The measured project as the run's stamp names it (name, command, scale); neutral words for a run
    that did not say."""
    said = stamp.get("project") or {}
    return {"name": "the project", "command": "perf", "scale": "scale"} | said


@dataclass
class Bench:
    """One benchmark's outcome. `floor` names the benchmark its ratio is taken against (None for floors);
    `ratios`, when the harness paired each sample with a floor measured beside it, are used instead of
    dividing by the floor's median over the whole run."""

    name: str
    group: str
    floor: str | None
    samples_ms: list[float]
    counters: dict[str, Any] = field(default_factory=dict)
    ratios: list[float] | None = None
    # The lengths of the turns the samples were measured in, in order (julia.perf.engine.turns): an A/B
    # verdict pairs the k-th block of each side. None for a run measured without turns.
    blocks: list[int] | None = None
    rounds: list[int] | None = None  # the coordinator's round of each block (pairs: same round, both sides)
    # CPU per function per unit, untimed (julia.perf.engine.profile): what explains a verdict, never judged
    # on its own. None where the benchmark or the side's code has no profile.
    profile: dict[str, Any] | None = None


SCHEMA_VERSION = 2  # 2: `schema_version`, Bench.blocks and the same-run `base`; 1 had neither


@dataclass
class Run:
    """One side's run. A head run measured against its base in the same run carries that base's run."""

    stamp: dict[str, Any]
    benches: dict[str, Bench] = field(default_factory=dict)
    base: Run | None = None

    def add(self, bench: Bench) -> None:
        if bench.name in self.benches:
            raise ValueError(f"benchmark {bench.name!r} recorded twice")
        self.benches[bench.name] = bench

    def floor_p50(self, bench: Bench) -> float | None:
        """The median of this benchmark's floor in the same run (None for a floor or a missing one)."""
        import numpy as np

        floor = self.benches.get(bench.floor) if bench.floor else None
        return float(np.median(floor.samples_ms)) if floor else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "stamp": self.stamp,
            "benches": {name: asdict(b) for name, b in self.benches.items()},
            "base": self.base.to_dict() if self.base else None,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), default=str))

    @classmethod
    def load(cls, path: Path) -> Run:
        """Raises ValueError/KeyError/TypeError on a file that is not results (the CLI says so in a line)."""
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Run:
        """Reads this schema and version 1 (no schema_version, no blocks, no base)."""
        version = payload.get("schema_version", 1)
        if version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is newer than this engine reads ({SCHEMA_VERSION})")
        base = payload.get("base")
        return cls(
            payload["stamp"],
            {name: Bench(**b) for name, b in payload["benches"].items()},
            cls.from_dict(base) if base else None,
        )


def reviewable_json(payload: dict[str, Any]) -> str:
    """A stored file (baseline, calibration): its stamp indented, one line per benchmark, so a change
    reads as a short diff."""
    rest = {key: value for key, value in payload.items() if key != "benches"}
    head = json.dumps(rest, indent=1, default=str)[:-2]
    benches = payload["benches"].items()
    lines = [f" {json.dumps(name)}: {json.dumps(bench, default=str)}" for name, bench in benches]
    return head + ',\n "benches": {\n' + ",\n".join(lines) + "\n }\n}\n"
