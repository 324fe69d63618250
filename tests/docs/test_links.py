"""Links between the docs resolve: the file exists and, with #anchor, one of its headings has that anchor
(GitHub's rule: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.markdown import DOCS

_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(m[1]) for m in re.finditer(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)}


def test_links_between_docs_resolve() -> None:
    for doc in sorted(DOCS.glob("*.md")):
        for match in _LINK.finditer(doc.read_text(encoding="utf-8")):
            target = match["target"]
            if target.startswith(("http://", "https://")):
                continue
            name, _, anchor = target.partition("#")
            path = (doc.parent / name).resolve() if name else doc
            assert path.exists(), f"{doc.name}: link to missing {target}"
            if anchor:
                assert anchor in _anchors(path), f"{doc.name}: no heading #{anchor} in {path.name}"
