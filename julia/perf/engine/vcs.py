"""git, as the engine asks it things: None when git is missing or says no (a shallow clone, no repo)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None
