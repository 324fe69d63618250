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
from julia.services.plantoes import descrever
from julia.services.reservas import Reserva

_AFIRMA_RESERVA: Final = re.compile(
    r"(?<!nao )(?<!nao te )(?<!nao lhe )\b(ja )?"
    r"(reservei|garanti|reservamos|acabei de reservar|consegui reservar)\b"
    r"|(?<!nao )\bfiz (a |sua |tua )?reserva\b"
    r"|\breserva (foi )?(feita|realizada|efetuada|garantida|confirmada(?! pel[oa]))\b"
    r"|\b(vaga|plantao|turno) (ja )?((foi|ficou) )?(garantid|reservad)[oa]\b(?! (por|para) outr)"
    r"|\b(ficou|foi) reservad[oa] (para|pra) (voce|o senhor|a senhora|o sr|a sra)\b"
)
# Sentence ends, but not the titles doctors are addressed by ("Dra. Ana").
_FRASES: Final = re.compile(r"(?<=[.!?])(?<!dr\.)(?<!dra\.)(?<!sr\.)(?<!sra\.)\s+", re.IGNORECASE)

CONFIRMA: Final = (
    "Reservei para você a vaga {id}: {descricao}. Ela aguarda a confirmação do hospital, e eu aviso você "
    "quando confirmarem."
)
JA_ERA_SUA: Final = "A vaga {id} continua reservada para você: {descricao}."
NAO_RESERVEI: Final = (
    "Correção: eu ainda não reservei esse plantão. Se quiser, me diga o número da vaga e eu reservo."
)
RECUSADA: Final = "Correção: não consegui reservar a vaga {id}: {motivo}."
SEM_VAGA: Final = "Correção: não consegui reservar essa vaga: {motivo}."
# The tool's reasons speak of "o médico" to Claude; to the doctor, the reasons about them say "você".
PARA_O_MEDICO: Final = {
    reservas.SEM_CRM: "preciso do número do seu CRM",
    reservas.INATIVO: "seu cadastro ainda não está ativo; uma pessoa da equipe pode ajudar",
    reservas.SEM_ESPECIALIDADE: "sua especialidade não está cadastrada",
    reservas.SOBREPOSTA: "ela coincide com outro plantão que você já tem",
    reservas.LIMITE: "você já tem {n} reservas aguardando a confirmação do hospital, o máximo permitido",
}


def _simples(texto: str) -> str:
    return unicodedata.normalize("NFKD", texto.casefold()).encode("ascii", "ignore").decode()


def afirma_reserva(frase: str) -> bool:
    """Whether the text announces a reservation as made."""
    return _AFIRMA_RESERVA.search(_simples(frase)) is not None


def _sem_afirmacoes(texto: str) -> tuple[str, bool]:
    """The text without its sentences that claim a reservation (lines kept), and whether any was cut."""
    cortou = False
    linhas = []
    for linha in texto.splitlines():
        frases = _FRASES.split(linha)
        mantidas = [f for f in frases if not afirma_reserva(f)]
        cortou = cortou or len(mantidas) < len(frases)
        if mantidas or not linha.strip():
            linhas.append(" ".join(mantidas))
    return "\n".join(linhas).strip(), cortou


def conferir(texto: str, do_turno: Sequence[Reserva]) -> str:
    """The reply to send, given Claude's text and what reservar_vaga did in this turn (in order)."""
    resto, cortou = _sem_afirmacoes(texto)
    feitas = [r for r in do_turno if r.reservada and r.vaga is not None]
    if feitas:
        confirmacoes = [
            (CONFIRMA if r.nova else JA_ERA_SUA).format(id=r.vaga["id"], descricao=descrever(r.vaga))
            for r in feitas
            if r.vaga is not None
        ]
        return "\n\n".join([*confirmacoes, resto] if resto else confirmacoes)
    if not cortou:
        return texto
    recusada = next((r for r in reversed(do_turno) if not r.reservada), None)
    if recusada is None:
        correcao = NAO_RESERVEI
    else:
        motivo = PARA_O_MEDICO.get(str(recusada.motivo), str(recusada.motivo)).format(n=recusada.abertas)
        if recusada.vaga is not None:
            correcao = RECUSADA.format(id=recusada.vaga["id"], motivo=motivo)
        else:
            correcao = SEM_VAGA.format(motivo=motivo)
    return "\n\n".join([resto, correcao] if resto else [correcao])
