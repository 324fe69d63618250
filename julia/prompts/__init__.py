"""Júlia's system prompt, one file per version (system_v1.md, ...): a change is a new version, so a
reply can always be traced to the prompt that produced it. The trace is `interacoes.versao_prompt`: each
reply Claude wrote is stored with VERSAO (julia/worker/resposta.py, sql registrar_resposta); fixed texts
store NULL."""

from __future__ import annotations

from functools import cache
from pathlib import Path

VERSAO = "v2"  # v2: the tools (reservar_vaga, buscar_vagas, pedir_humano)


@cache
def sistema(versao: str = VERSAO) -> str:
    return (Path(__file__).resolve().parent / f"system_{versao}.md").read_text(encoding="utf-8").strip()
