"""The scripts under perf/ (the calibrations and trials run as `python perf/<name>.py`, no package of their
own) as modules, for the unit tests of what they compute without measuring."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

PERF = Path(__file__).resolve().parents[2] / "perf"


def load_script(name: str) -> ModuleType:
    """perf/<name>.py as a module named `name`, executed anew on every call."""
    spec = importlib.util.spec_from_file_location(name, PERF / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
