"""A hypothesis fuzzer against a real `julia serve`: Evolution's own payload shapes (messages.upsert,
messages.update, connection.update, other events) with hostile values in every field (NUL, lone
surrogates, huge integers, deep nesting, wrong types), hostile keys, and broken bytes. No body may get a
5xx, and a body without the right key always gets 401."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from julia.testing.evolution import recibo_whatsapp
from tests.faults.conftest import Montar
from tests.faults.sistema import CHAVE, Mensagem

CURTO, LONGO = 1_000, 10_000

_ESTRANHOS = [
    "\x00",
    "\ud800",
    "\udfff",
    "\ud83d",
    "😀",
    "\u202e",
    "\ufeff",
    "'; DROP TABLE clientes; --",
    "%s",
]
texto = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(_ESTRANHOS)), max_size=6).map("".join)
inteiro = st.one_of(st.integers(), st.sampled_from([2**31, -(2**31) - 1, 2**63, 10**40, -1, 0]))
folha = st.one_of(st.none(), st.booleans(), inteiro, st.floats(allow_nan=False), texto)


def _aninhado(profundidade: int) -> Any:
    valor: Any = "fundo"
    for i in range(profundidade):
        valor = [valor] if i % 2 else {"x": valor}
    return valor


qualquer = st.one_of(
    folha,
    st.integers(1, 300).map(_aninhado),
    st.recursive(
        folha, lambda filhos: st.lists(filhos, max_size=3) | st.dictionaries(texto, filhos, max_size=3)
    ),
)


def _upsert(i: int) -> dict[str, Any]:
    return Mensagem(f"55119{i % 10**8:08d}", f"3EB0FUZZ{i}", "Tem plantão?").corpo()


def _conexao() -> dict[str, Any]:
    return {
        "event": "connection.update",
        "instance": "julia",
        "data": {"instance": "julia", "state": "open", "statusReason": 200},
    }


def _recibo(i: int) -> dict[str, Any]:
    return recibo_whatsapp(f"3EB0FUZZ{i}", f"55119{i % 10**8:08d}", "DELIVERY_ACK")


CAMINHOS = [
    ("event",),
    ("instance",),
    ("apikey",),
    ("data",),
    ("data", "key"),
    ("data", "key", "id"),
    ("data", "key", "remoteJid"),
    ("data", "key", "fromMe"),
    ("data", "key", "remoteJidAlt"),
    ("data", "pushName"),
    ("data", "message"),
    ("data", "message", "conversation"),
    ("data", "message", "extendedTextMessage"),
    ("data", "contextInfo"),
    ("data", "state"),
    ("data", "statusReason"),
    ("data", "instance"),
    ("data", "keyId"),
    ("data", "status"),
]


def _trocar(corpo: dict[str, Any], caminho: tuple[str, ...], valor: Any) -> None:
    alvo: Any = corpo
    for parte in caminho[:-1]:
        if not isinstance(alvo, dict):
            return
        alvo = alvo.setdefault(parte, {})
    if isinstance(alvo, dict):
        alvo[caminho[-1]] = valor


@st.composite
def pedidos(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    """(body, headers, sem_chave): sem_chave when no right key is anywhere (then 401, always)."""
    forma = draw(st.sampled_from(["upsert", "recibo", "conexao", "outro"]))
    corpo = {"upsert": _upsert, "recibo": _recibo}.get(forma, lambda _: _conexao())(
        draw(st.integers(0, 10**6))
    )
    if forma == "outro":
        corpo["event"] = draw(st.sampled_from(["send.message", "MESSAGES_UPDATE", "qrcode.updated", ""]))
    for _ in range(draw(st.integers(0, 4))):
        _trocar(corpo, draw(st.sampled_from(CAMINHOS)), draw(qualquer))
    chave = draw(st.sampled_from(["certa", "errada", "ausente", "nao_ascii", "no_corpo", "no_corpo_errada"]))
    cabecalhos = {"content-type": "application/json"}
    if chave == "certa":
        cabecalhos["apikey"] = CHAVE
    elif chave == "errada":
        cabecalhos["apikey"] = draw(st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=40))
    elif chave == "nao_ascii":
        cabecalhos["apikey"] = "çhave-ñ"
    elif chave == "no_corpo":
        corpo["apikey"] = CHAVE
    elif chave == "no_corpo_errada":
        corpo["apikey"] = draw(texto.filter(lambda t: t != CHAVE))  # hypothesis mines the key from the source
    bruto = json.dumps(corpo).encode()
    quebra = draw(st.sampled_from(["nada"] * 8 + ["cortado", "lixo"]))
    if quebra == "cortado":
        bruto = bruto[: draw(st.integers(0, len(bruto)))]
    elif quebra == "lixo":
        bruto = draw(st.binary(max_size=200))
    return bruto, cabecalhos, chave not in ("certa", "no_corpo")


def _fuzz(url: str, exemplos: int) -> list[str]:
    falhas: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as cliente:

        @settings(
            max_examples=exemplos,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(pedidos())
        def um(pedido: tuple[bytes, dict[str, str], bool]) -> None:
            bruto, cabecalhos, sem_chave = pedido
            cabecalhos_http = {k.encode(): v.encode() for k, v in cabecalhos.items()}
            resposta = cliente.post("/webhooks/evolution", content=bruto, headers=cabecalhos_http)
            if resposta.status_code >= 500 or (sem_chave and resposta.status_code != 401):
                falhas.append(
                    f"{resposta.status_code} {resposta.text[:120]!r} for {bruto[:200]!r} {cabecalhos}"
                )
            assert resposta.status_code < 500, falhas[-1]
            assert not sem_chave or resposta.status_code == 401, falhas[-1]

        um()
    return falhas


async def test_webhook_fuzz_sem_5xx(montar: Montar, request: pytest.FixtureRequest) -> None:
    exemplos = LONGO if request.config.getoption("--long") else CURTO
    async with montar(worker=False) as (sistema, _pool):
        falhas = await asyncio.to_thread(_fuzz, sistema.url, exemplos)
        assert not falhas, falhas[:5]
        assert sistema.serve is not None
        assert sistema.serve.poll() is None, "julia serve died"
        assert "Traceback" not in sistema.log("serve"), sistema.log("serve")
