"""The prompt is versioned with the tool set: every tool Claude is offered is named in the current
prompt, so a new tool cannot ship under an old prompt that never mentions it (issue 33: registrar_opt_out
came after prompt v2 and v2 never named it)."""

from __future__ import annotations

from julia import prompts
from julia.worker import ferramentas


def test_the_current_prompt_names_every_tool() -> None:
    texto = prompts.sistema()
    faltando = [f.nome for f in ferramentas.FERRAMENTAS if f.nome not in texto]
    assert not faltando, f"prompt {prompts.VERSAO} never names {faltando}: write a new version that does"
