"""Where julia's non-Python files are: the repository in a checkout, the bundled copy in a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def project_file(name: str) -> Path:
    """`migrations` or `fixtures`: the checkout's folder when there is one, else the wheel's copy."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"julia cannot find its {name}/ folder next to {_PACKAGE}")
