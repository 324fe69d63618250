"""The runnable parts of docs/*.md: fenced blocks by language, and the `julia ...` spans of the prose.

A block is skipped only when the line right above its fence is `<!-- docs-test: illustrative (why) -->`:
everything else tagged bash, sql or redis is executed by test_runbook_commands.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
ILLUSTRATIVE = re.compile(r"<!--\s*docs-test:\s*illustrative\s*\((?P<why>[^)]+)\)\s*-->")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_INLINE_JULIA = re.compile(r"`julia ([^`]+)`")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    illustrative: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}:{self.lang}"


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = opening["indent"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j].removeprefix(indent))
            j += 1
        above = lines[i - 1].strip() if i > 0 else ""
        marker = ILLUSTRATIVE.search(above)
        found.append(Block(path, i + 1, opening["lang"], "\n".join(body), marker["why"] if marker else None))
        i = j + 1
    return found


def all_blocks() -> list[Block]:
    return [b for path in sorted(DOCS.glob("*.md")) for b in blocks(path)]


def inline_julia(path: Path) -> list[str]:
    """`julia <args>` spans written in the prose (outside fenced blocks)."""
    prose, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line) or (inside and line.strip() == "```"):
            inside = not inside
            continue
        if not inside:
            prose.append(line)
    return _INLINE_JULIA.findall("\n".join(prose))


def commands(block: Block) -> list[str]:
    """One command per line; blank lines and `#` comments skipped."""
    return [
        line.strip() for line in block.text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
