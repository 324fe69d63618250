"""The templates declared in julia/templates.py: each body takes exactly its parameters, marketing ones say
how to stop them, and the notices read as they did before they were templates."""

from __future__ import annotations

import re

import pytest

from julia.templates import OPT_OUT, TEMPLATES, Template, UnknownTemplate, template


@pytest.mark.parametrize("modelo", TEMPLATES.values(), ids=list(TEMPLATES))
def test_o_corpo_leva_exatamente_os_seus_parametros(modelo: Template) -> None:
    numeros = sorted({int(n) for n in re.findall(r"\{\{(\d+)\}\}", modelo.body)})
    assert numeros == list(range(1, len(modelo.parameters) + 1))
    assert modelo.language == "pt_BR"
    assert re.fullmatch(r"[a-z0-9_]+", modelo.name)  # Meta's rule for template names
    if modelo.category == "MARKETING":
        assert modelo.body.endswith(OPT_OUT)


def test_render_e_marcadores() -> None:
    oferta = template("oferta_plantao")
    assert oferta.render(["Ana", "Cardiologia"]).startswith("Olá, Ana! Aqui é a Júlia")
    assert "{primeiro_nome}" in oferta.with_markers()
    assert "{especialidade}" in oferta.with_markers()
    with pytest.raises(ValueError, match="takes 2 parameters"):
        oferta.render(["Ana"])


def test_modelo_desconhecido() -> None:
    with pytest.raises(UnknownTemplate, match="unknown template 'nada'"):
        template("nada")
