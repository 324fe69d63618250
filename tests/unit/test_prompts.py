"""The prompt is versioned with the tool set: every tool Claude is offered is named in the current
prompt, so a new tool cannot ship under an old prompt that never mentions it (issue 33: registrar_opt_out
came after prompt v2 and v2 never named it)."""

from __future__ import annotations

from julia import prompts
from julia.worker import tools


def test_the_current_prompt_names_every_tool() -> None:
    texto = prompts.system()
    lacking = [f.nome for f in tools.TOOLS if f.nome not in texto]
    assert not lacking, f"prompt {prompts.VERSION} never names {lacking}: write a new version that does"
