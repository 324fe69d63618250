"""The templates declared in julia/templates.py: each body takes exactly its parameters, marketing ones say
how to stop them, and the notices read as they did before they were templates."""

from __future__ import annotations

import re

import pytest

from julia.templates import OPT_OUT, TEMPLATES, Template, UnknownTemplate, template


@pytest.mark.parametrize("modelo", TEMPLATES.values(), ids=list(TEMPLATES))
def test_the_body_carries_exactly_its_parameters(modelo: Template) -> None:
    numbers = sorted({int(n) for n in re.findall(r"\{\{(\d+)\}\}", modelo.body)})
    assert numbers == list(range(1, len(modelo.parameters) + 1))
    assert modelo.language == "pt_BR"
    assert re.fullmatch(r"[a-z0-9_]+", modelo.name)  # Meta's rule for template names
    if modelo.category == "MARKETING":
        assert modelo.body.endswith(OPT_OUT)


def test_render_and_markers() -> None:
    offer = template("oferta_plantao")
    assert offer.render(["Ana", "Cardiologia"]).startswith("Olá, Ana! Aqui é a Júlia")
    assert "{primeiro_nome}" in offer.with_markers()
    assert "{especialidade}" in offer.with_markers()
    with pytest.raises(ValueError, match="takes 2 parameters"):
        offer.render(["Ana"])


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplate, match="unknown template 'nada'"):
        template("nada")
