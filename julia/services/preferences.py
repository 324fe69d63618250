"""Offers follow the doctor: the shifts Júlia shows unasked are in the state of the doctor's CRM (a CRM is
a state's licence; working elsewhere needs another), and those matching the doctor's stated preferences
(`clientes.preferencias`: periods, a minimum value) come first."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from julia.services.plantoes import value_in_reais

UFS: Final = frozenset(
    "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split()  # noqa: SIM905
)
# "CRM/SP 123456", "CRM-SP 123456", "123456/SP", "123456-RJ": a state code standing alone.
_UF: Final = re.compile(rf"(?<![A-Z])({'|'.join(sorted(UFS))})(?![A-Z])")


def uf_do_crm(crm: str | None) -> str | None:
    """The state of a CRM as doctors write it; None when it names none (or more than one)."""
    findings = set(_UF.findall((crm or "").upper().replace("CRM", " ")))
    return findings.pop() if len(findings) == 1 else None


def _min_value(preferencias: Mapping[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(preferencias["valor_minimo"]))
    except (KeyError, ArithmeticError, ValueError):
        return None


def answers(vaga: Mapping[str, Any], preferencias: Mapping[str, Any]) -> bool:
    """Whether the shift is of a period the doctor prefers and pays at least their minimum (a preference
    not stated is met)."""
    periodos = preferencias.get("periodos")
    if isinstance(periodos, list) and periodos and vaga["periodo"] not in periodos:
        return False
    minimum = _min_value(preferencias)
    return minimum is None or Decimal(str(vaga["valor"])) >= minimum


def sort(vagas: Sequence[Mapping[str, Any]], preferencias: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The shifts the doctor prefers first, each group still soonest first (a stable sort)."""
    return sorted(vagas, key=lambda v: not answers(v, preferencias))


def describe(preferencias: Mapping[str, Any]) -> str | None:
    """The preferences in words for Claude's context; None when there are none it can use."""
    parts = []
    periodos = preferencias.get("periodos")
    if isinstance(periodos, list) and periodos:
        parts.append("períodos " + ", ".join(map(str, periodos)))
    minimum = _min_value(preferencias)
    if minimum is not None:
        parts.append(f"valor mínimo {value_in_reais(minimum)}")
    return "; ".join(parts) or None
