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

from julia.testing.evolution import whatsapp_receipt
from tests.faults.conftest import Build
from tests.faults.system import KEY, Message

SHORT, LONG_ENOUGH = 1_000, 10_000

_STRANGE = [
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
texto = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(_STRANGE)), max_size=6).map("".join)
whole_one = st.one_of(st.integers(), st.sampled_from([2**31, -(2**31) - 1, 2**63, 10**40, -1, 0]))
sheet = st.one_of(st.none(), st.booleans(), whole_one, st.floats(allow_nan=False), texto)


def _nested(depth: int) -> Any:
    valor: Any = "fundo"
    for i in range(depth):
        valor = [valor] if i % 2 else {"x": valor}
    return valor


any_one = st.one_of(
    sheet,
    st.integers(1, 300).map(_nested),
    st.recursive(
        sheet, lambda children: st.lists(children, max_size=3) | st.dictionaries(texto, children, max_size=3)
    ),
)


def _upsert(i: int) -> dict[str, Any]:
    return Message(f"55119{i % 10**8:08d}", f"3EB0FUZZ{i}", "Tem plantão?").corpo()


def _connection() -> dict[str, Any]:
    return {
        "event": "connection.update",
        "instance": "julia",
        "data": {"instance": "julia", "state": "open", "statusReason": 200},
    }


def _receipt(i: int) -> dict[str, Any]:
    return whatsapp_receipt(f"3EB0FUZZ{i}", f"55119{i % 10**8:08d}", "DELIVERY_ACK")


PATHS = [
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


def _swap(corpo: dict[str, Any], caminho: tuple[str, ...], valor: Any) -> None:
    alvo: Any = corpo
    for part in caminho[:-1]:
        if not isinstance(alvo, dict):
            return
        alvo = alvo.setdefault(part, {})
    if isinstance(alvo, dict):
        alvo[caminho[-1]] = valor


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    """(body, headers, sem_chave): sem_chave when no right key is anywhere (then 401, always)."""
    shape = draw(st.sampled_from(["upsert", "recibo", "conexao", "outro"]))
    corpo = {"upsert": _upsert, "recibo": _receipt}.get(shape, lambda _: _connection())(
        draw(st.integers(0, 10**6))
    )
    if shape == "outro":
        corpo["event"] = draw(st.sampled_from(["send.message", "MESSAGES_UPDATE", "qrcode.updated", ""]))
    for _ in range(draw(st.integers(0, 4))):
        _swap(corpo, draw(st.sampled_from(PATHS)), draw(any_one))
    key = draw(st.sampled_from(["certa", "errada", "ausente", "nao_ascii", "no_corpo", "no_corpo_errada"]))
    headers = {"content-type": "application/json"}
    if key == "certa":
        headers["apikey"] = KEY
    elif key == "errada":
        headers["apikey"] = draw(st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=40))
    elif key == "nao_ascii":
        headers["apikey"] = "çhave-ñ"
    elif key == "no_corpo":
        corpo["apikey"] = KEY
    elif key == "no_corpo_errada":
        corpo["apikey"] = draw(texto.filter(lambda t: t != KEY))  # hypothesis mines the key from the source
    raw = json.dumps(corpo).encode()
    line_break = draw(st.sampled_from(["nada"] * 8 + ["cortado", "lixo"]))
    if line_break == "cortado":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif line_break == "lixo":
        raw = draw(st.binary(max_size=200))
    return raw, headers, key not in ("certa", "no_corpo")


def _fuzz(url: str, examples: int) -> list[str]:
    falhas: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as cliente:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(requests())
        def um(pedido: tuple[bytes, dict[str, str], bool]) -> None:
            raw, headers, without_key = pedido
            http_headers = {k.encode(): v.encode() for k, v in headers.items()}
            resposta = cliente.post("/webhooks/evolution", content=raw, headers=http_headers)
            if resposta.status_code >= 500 or (without_key and resposta.status_code != 401):
                falhas.append(f"{resposta.status_code} {resposta.text[:120]!r} for {raw[:200]!r} {headers}")
            assert resposta.status_code < 500, falhas[-1]
            assert not without_key or resposta.status_code == 401, falhas[-1]

        um()
    return falhas


async def test_webhook_fuzz_without_5xx(build: Build, request: pytest.FixtureRequest) -> None:
    examples = LONG_ENOUGH if request.config.getoption("--long") else SHORT
    async with build(worker=False) as (system, _pool):
        falhas = await asyncio.to_thread(_fuzz, system.url, examples)
        assert not falhas, falhas[:5]
        assert system.serve is not None
        assert system.serve.poll() is None, "julia serve died"
        assert "Traceback" not in system.log("serve"), system.log("serve")
