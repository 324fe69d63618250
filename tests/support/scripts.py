"""The scripts under perf/ (the calibrations and trials run as `python perf/<name>.py`, no package of their
own) as modules, for the unit tests of what they compute without measuring."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PERF = Path(__file__).resolve().parents[2] / "perf"


def load_script(name: str) -> ModuleType:
    """perf/<name>.py as the module `name`, executed anew on every call, as `python perf/<name>.py` runs it:
    with perf/ first on sys.path, so what it imports from beside it (perf/rounds.py) resolves there (only
    while it loads: the test session's path stays as it was), and in sys.modules, where a dataclass's
    string annotations are resolved."""
    spec = importlib.util.spec_from_file_location(name, PERF / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(PERF))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PERF))
    return module
