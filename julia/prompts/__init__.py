"""Júlia's system prompt, one file per version (system_v1.md, ...): a change is a new version, so a
reply can always be traced to the prompt that produced it. The trace is `interacoes.versao_prompt`: each
reply Claude wrote is stored with VERSAO (julia/worker/reply.py, sql registrar_resposta); fixed texts
store NULL."""

from __future__ import annotations

from functools import cache
from pathlib import Path

# v2: the tools (reservar_vaga, buscar_vagas, pedir_humano). v3: names registrar_opt_out, which came
# after v2 and was never named, and reads what arrives in brackets (voice notes, captions, reactions,
# quotes, edits). The prompt is versioned with the tool set: tests/unit/test_prompts.py fails when a
# registered tool is not named in the current version.
VERSION = "v3"


@cache
def system(version: str = VERSION) -> str:
    return (Path(__file__).resolve().parent / f"system_{version}.md").read_text(encoding="utf-8").strip()
