"""The dependencies as evidence: when the base's dependency files differ from the head's, julia.perf.engine.ab
installs the base into a virtualenv of its own, and a timing change may then be a library's, not the code's
(a head that dropped redis-py's `hiredis` extra reads every cache hit with the pure-Python parser). What
changed is recorded in the run's stamp (`ab.dependencies`) and ranked as a cause candidate
(julia.perf.engine.causes): the requirements each side declares (extras included) and the packages each
side's interpreter has installed, added, removed and upgraded.

packaging (PyPA's own parser, what pip uses) reads the requirement strings and canonicalizes names, so
`redis[hiredis]>=5.2` and `redis>=5.2` are seen as one package whose extras changed.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_NATIVE = re.compile(r"(?:of '|built-in method )(\w+)\.")

# What an interpreter has installed, as {name: version}: run by each side's own python.
INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
)


# What builds a virtualenv, not what the code runs on: virtualenv seeds pip and setuptools, uv seeds
# nothing, so two sides made by different tools differ in these alone. Seen in an A/B against a base
# installed apart, where "pip removed; setuptools removed" came first in every benchmark's cause line.
VENV_TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute"})


def installed(python: str) -> dict[str, str]:
    """The packages `python` has installed, by canonical name (a virtualenv's own tooling left out);
    empty when it cannot say."""
    done = subprocess.run([python, "-c", INSTALLED], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {}
    found = {canonicalize_name(name): version for name, version in json.loads(done.stdout).items()}
    return {name: version for name, version in found.items() if name not in VENV_TOOLING}


def declared(root: Path) -> dict[str, str]:
    """A checkout's declared requirements by "name" (the project's) or "name (extra)" (an optional
    group's), each its requirement string as written: the same package in two groups is two entries."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    project = tomllib.loads(path.read_text()).get("project", {})
    groups: dict[str | None, list[str]] = {None: project.get("dependencies", [])}
    groups |= project.get("optional-dependencies", {})
    out: dict[str, str] = {}
    for group, specs in groups.items():
        for spec in specs:
            try:
                name: str = canonicalize_name(Requirement(spec).name)
            except InvalidRequirement:
                name = spec
            out[f"{name} ({group})" if group else name] = spec
    return out


def difference(
    head_installed: dict[str, str],
    base_installed: dict[str, str],
    head_declared: dict[str, str],
    base_declared: dict[str, str],
) -> dict[str, Any]:
    """What the head installs and declares that the base does not, and the other way round: empty keys
    left out, so an empty dict means no difference."""
    out: dict[str, Any] = {
        "added": {n: v for n, v in sorted(head_installed.items()) if n not in base_installed},
        "removed": {n: v for n, v in sorted(base_installed.items()) if n not in head_installed},
        "upgraded": {
            n: [base_installed[n], v]
            for n, v in sorted(head_installed.items())
            if n in base_installed and base_installed[n] != v
        },
        "declared": {
            key: [base_declared.get(key), head_declared.get(key)]
            for key in sorted({*head_declared, *base_declared})
            if head_declared.get(key) != base_declared.get(key)
        },
    }
    return {key: value for key, value in out.items() if value}


def summary(changes: dict[str, Any], most: int = 4) -> str:
    """The difference in one line, the installed packages first: "hiredis 3.3.0 removed; redis: ..."."""
    parts = [f"{name} {version} removed" for name, version in changes.get("removed", {}).items()]
    parts += [f"{name} {version} added" for name, version in changes.get("added", {}).items()]
    parts += [f"{name} {old} -> {new}" for name, (old, new) in changes.get("upgraded", {}).items()]
    parts += [
        f"declared {old or '(none)'} -> {new or '(none)'}"
        for old, new in changes.get("declared", {}).values()
    ]
    more = f" (+{len(parts) - most} more)" if len(parts) > most else ""
    return "; ".join(parts[:most]) + more


def ran(changes: dict[str, Any], functions: Iterable[str]) -> bool:
    """Whether any installed package that changed has code among `functions` (profile keys, a library's
    as "package/module.py:function" relative to site-packages, julia.perf.engine.profile): a package a
    benchmark never ran cannot be why it moved. A distribution's import names come from the interpreter's
    metadata (apache-otava installs `otava`); one it no longer has (removed) is matched by its own name."""
    names = {
        canonicalize_name(name) for kind in ("removed", "added", "upgraded") for name in changes.get(kind, {})
    }
    imports = _import_names()
    for key in functions:
        # A C extension's function has no file: "<method 'gets' of 'hiredis.Reader' objects>",
        # "<built-in method hiredis.hiredis.pack_command>"; its module is the dotted name's first part.
        native = _NATIVE.search(key) if key.startswith("<") else None
        top = native.group(1) if native else key.split(":", 1)[0].split("/", 1)[0].removesuffix(".py")
        if {canonicalize_name(d) for d in imports.get(top, [top])} & names:
            return True
    return False


@functools.cache
def _import_names() -> Mapping[str, list[str]]:
    """Top-level import names to their distributions, read once per process: the metadata walk scans
    every installed distribution's RECORD, and the gate asks it once per benchmark explained."""
    return importlib.metadata.packages_distributions()
