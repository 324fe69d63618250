"""No false promises about reservations: what Júlia tells a doctor about a reservation comes from what
reservar_vaga did in this turn, never from Claude's free text.

- A reservation made (or found already theirs) is confirmed with a text built from the tool's result:
  weekday and date, period and hours, hospital, city, value (reservas.descrever), the database's own.
- Claude's sentences that claim a reservation are dropped: with a reservation they repeat the confirmation,
  possibly with another date or value; without one they are false. When Claude claimed one that no tool
  made, a fixed correction says so (with the true reason when the tool refused).

The claim detector is a deterministic backstop, a handful of patterns over the accent-free text, tuned to
catch announcements of a reservation just made ("reservei", "fiz a reserva", "reserva feita", "plantão
reservado!", "ficou reservada para você") and not what Júlia must be free to say: refusals ("já foi
reservada por outro médico", "não reservei") and the state of an earlier reservation ("está reservada
para você desde ontem", "foi confirmada pelo hospital"), which may well be true.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

from julia.services import reservas
from julia.services.plantoes import describe
from julia.services.reservas import Reserva

_CLAIMS_RESERVA: Final = re.compile(
    r"(?<!nao )(?<!nao te )(?<!nao lhe )\b(ja )?"
    r"(reservei|garanti|reservamos|acabei de reservar|consegui reservar)\b"
    r"|(?<!nao )\bfiz (a |sua |tua )?reserva\b"
    r"|\breserva (foi )?(feita|realizada|efetuada|garantida|confirmada(?! pel[oa]))\b"
    r"|\b(vaga|plantao|turno) (ja )?((foi|ficou) )?(garantid|reservad)[oa]\b(?! (por|para) outr)"
    r"|\b(ficou|foi) reservad[oa] (para|pra) (voce|o senhor|a senhora|o sr|a sra)\b"
)
# Sentence ends, but not the titles doctors are addressed by ("Dra. Ana").
_SENTENCES: Final = re.compile(r"(?<=[.!?])(?<!dr\.)(?<!dra\.)(?<!sr\.)(?<!sra\.)\s+", re.IGNORECASE)

CONFIRMS: Final = (
    "Reservei para você a vaga {id}: {descricao}. Ela aguarda a confirmação do hospital, e eu aviso você "
    "quando confirmarem."
)
ALREADY_YOURS: Final = "A vaga {id} continua reservada para você: {descricao}."
NOT_RESERVED: Final = (
    "Correção: eu ainda não reservei esse plantão. Se quiser, me diga o número da vaga e eu reservo."
)
REFUSED: Final = "Correção: não consegui reservar a vaga {id}: {motivo}."
WITHOUT_VAGA: Final = "Correção: não consegui reservar essa vaga: {motivo}."
# The tool's reasons speak of "o médico" to Claude; to the doctor, the reasons about them say "você".
TO_THE_MEDICO: Final = {
    reservas.WITHOUT_CRM: "preciso do número do seu CRM",
    reservas.INACTIVE: "seu cadastro ainda não está ativo; uma pessoa da equipe pode ajudar",
    reservas.WITHOUT_ESPECIALIDADE: "sua especialidade não está cadastrada",
    reservas.OVERLAPPING: "ela coincide com outro plantão que você já tem",
    reservas.LIMIT: "você já tem {n} reservas aguardando a confirmação do hospital, o máximo permitido",
}


def _simple(texto: str) -> str:
    return unicodedata.normalize("NFKD", texto.casefold()).encode("ascii", "ignore").decode()


def claims_reserva(sentence: str) -> bool:
    """Whether the text announces a reservation as made."""
    return _CLAIMS_RESERVA.search(_simple(sentence)) is not None


def _without_claims(texto: str) -> tuple[str, bool]:
    """The text without its sentences that claim a reservation (lines kept), and whether any was cut."""
    trimmed = False
    linhas = []
    for linha in texto.splitlines():
        sentences = _SENTENCES.split(linha)
        kept = [f for f in sentences if not claims_reserva(f)]
        trimmed = trimmed or len(kept) < len(sentences)
        if kept or not linha.strip():
            linhas.append(" ".join(kept))
    return "\n".join(linhas).strip(), trimmed


def check(texto: str, of_turn: Sequence[Reserva]) -> str:
    """The reply to send, given Claude's text and what reservar_vaga did in this turn (in order)."""
    rest, trimmed = _without_claims(texto)
    done_ones = [r for r in of_turn if r.reservada and r.vaga is not None]
    if done_ones:
        confirmations = [
            (CONFIRMS if r.nova else ALREADY_YOURS).format(id=r.vaga["id"], descricao=describe(r.vaga))
            for r in done_ones
            if r.vaga is not None
        ]
        return "\n\n".join([*confirmations, rest] if rest else confirmations)
    if not trimmed:
        return texto
    refused = next((r for r in reversed(of_turn) if not r.reservada), None)
    if refused is None:
        correction = NOT_RESERVED
    else:
        motivo = TO_THE_MEDICO.get(str(refused.motivo), str(refused.motivo)).format(n=refused.abertas)
        if refused.vaga is not None:
            correction = REFUSED.format(id=refused.vaga["id"], motivo=motivo)
        else:
            correction = WITHOUT_VAGA.format(motivo=motivo)
    return "\n\n".join([rest, correction] if rest else [correction])
