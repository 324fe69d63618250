"""Júlia's system prompt, one file per version (system_v1.md, ...): a change is a new version, so a
reply can always be traced to the prompt that produced it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

VERSAO = "v2"  # v2: the tools (reservar_vaga, buscar_vagas, pedir_humano)


@cache
def sistema(versao: str = VERSAO) -> str:
    return (Path(__file__).resolve().parent / f"system_{versao}.md").read_text(encoding="utf-8").strip()
