"""The WhatsApp message templates julia may send, as approved in Meta's WhatsApp Manager (issue 36).

On the Cloud API (EVOLUTION_INTEGRATION=cloud-api) a message Júlia starts (a campaign, a notice about a
shift) can only be an approved template: Meta refuses free text to a doctor who has not written in the last
24 hours (error 131047). Each template here must exist at Meta with the same name, language, category and
body, its `{{n}}` parameters in the order of `parameters`; a mismatch comes back from Meta as 132001
(unknown name or language) or 132000 (parameter count) and the row ends 'erro' with it.

Declared in Python rather than in a data file: a template is a change reviewed with the code that uses it
(a campaign names one, the notices in julia/services/avisos.py name theirs), mypy checks those references,
tests/unit/test_templates.py checks each body against its parameters, and nothing is parsed at start.

`body` is also what julia stores in the doctor's history and mirrors to Chatwoot, and what a Baileys
number sends as plain text: the doctor reads the same words on either channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from julia.errors import JuliaError

Category = Literal["MARKETING", "UTILITY"]
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
# What a campaign's template may name as a parameter: the doctor's own fields, filled per doctor when the
# campaign is queued (julia/sql/campanhas.sql). The same names as the free-text campaign's placeholders.
DOCTOR_FIELDS: Final = frozenset({"primeiro_nome", "especialidade"})
# Meta's marketing templates must let the recipient stop them; ours say how in the body, as free-text
# campaigns do (julia.services.campanhas.RODAPE).
OPT_OUT: Final = "Para não receber mais mensagens como esta, responda SAIR."
# The template that stands in for free text past the Cloud API's 24-hour window.
REENGAGEMENT: Final = "retomar_conversa"


class UnknownTemplate(JuliaError, ValueError):
    """A name no template of this module has (a ValueError too: a request naming one is a 422)."""


@dataclass(frozen=True)
class Template:
    name: str  # as approved at Meta
    language: str  # Meta's language code
    category: Category
    parameters: tuple[str, ...]  # julia's name of each {{1}}, {{2}}, ... in order
    body: str  # the approved body, with {{n}} where the parameters go

    def render(self, values: Sequence[str]) -> str:
        """The body as the doctor reads it, `values` in the order of `parameters`."""
        if len(values) != len(self.parameters):
            raise ValueError(
                f"template {self.name} takes {len(self.parameters)} parameters, got {len(values)}"
            )
        return _PLACEHOLDER.sub(lambda m: values[int(m.group(1)) - 1], self.body)

    def values(self, named: Mapping[str, str]) -> list[str]:
        """The parameters in order, from a mapping of julia's names (KeyError names a missing one)."""
        return [named[name] for name in self.parameters]

    def with_markers(self) -> str:
        """The body with `{name}` markers for its parameters: what the campaign statement fills per doctor
        (julia/sql/campanhas.sql, criar_campanha), like a free-text campaign's placeholders."""
        return _PLACEHOLDER.sub(lambda m: "{" + self.parameters[int(m.group(1)) - 1] + "}", self.body)


@dataclass(frozen=True)
class TemplateMessage:
    """A message that can go as a template: which one, and its parameters' values in order."""

    template: Template
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.template.render(self.values)


def _template(name: str, category: Category, parameters: tuple[str, ...], body: str) -> Template:
    return Template(name, "pt_BR", category, parameters, body)


TEMPLATES: Final[Mapping[str, Template]] = {
    t.name: t
    for t in (
        _template(
            "oferta_plantao",
            "MARKETING",
            ("primeiro_nome", "especialidade"),
            "Olá, {{1}}! Aqui é a Júlia, da equipe de escalas. Temos plantões de {{2}} abertos nos próximos "
            "dias. Quer que eu te mostre as opções?\n\n" + OPT_OUT,
        ),
        _template(
            "plantao_cancelado",
            "UTILITY",
            ("descricao",),
            "Aviso: o plantão que você tinha reservado foi cancelado pelo hospital: {{1}}.",
        ),
        _template(
            "reserva_desfeita",
            "UTILITY",
            ("descricao",),
            "Aviso: a equipe desfez a sua reserva deste plantão, que não está mais reservado para você: "
            "{{1}}.",
        ),
        _template(
            "plantao_confirmado",
            "UTILITY",
            ("descricao",),
            "Boa notícia: o hospital confirmou o seu plantão: {{1}}.",
        ),
        _template(
            "plantao_alterado",
            "UTILITY",
            ("mudancas", "descricao"),
            "Aviso: o plantão que você reservou mudou ({{1}}). Como ficou: {{2}}.",
        ),
        _template(
            "reserva_expirada",
            "UTILITY",
            ("descricao",),
            "Aviso: a sua reserva deste plantão não foi confirmada pelo hospital a tempo e a vaga voltou a "
            "ficar aberta: {{1}}. Se ainda quiser, me diga e eu vejo se ela continua disponível.",
        ),
        # Free text (a late reply, an agent's answer from Chatwoot) cannot reach a doctor silent for 24 hours
        # on the Cloud API: this goes in its place and the text waits until the doctor answers
        # (julia/worker/channel.py). UTILITY: it is about the doctor's own conversation, no offer; it says
        # only what is true whatever the held text is.
        _template(
            REENGAGEMENT,
            "UTILITY",
            ("primeiro_nome",),
            "Olá, {{1}}. Aqui é a Júlia, da equipe de escalas: tenho uma mensagem para você sobre a nossa "
            "conversa. Responda a esta mensagem para recebê-la.",
        ),
    )
}


def template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES))
        raise UnknownTemplate(
            f"unknown template {name!r} (declared in julia/templates.py: {known})"
        ) from None
