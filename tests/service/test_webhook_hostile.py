"""POST /webhooks/evolution under hostile or broken bodies: never a 5xx for a body it can judge, the key
checked before anything else, the doctor's text kept when only a stray character is wrong."""

from __future__ import annotations

import json

import asyncpg
import httpx

from julia.api.webhooks import MAX_BODY, MAX_DEPTH, depth
from tests.service.conftest import KEY, post, upsert


def _raw(corpo: object) -> bytes:
    """JSON as Evolution could send it: lone surrogates and NUL as \\u escapes (ensure_ascii)."""
    return json.dumps(corpo).encode()


async def _send(cliente: httpx.AsyncClient, raw: bytes, key: str | None = KEY) -> httpx.Response:
    headers = {"content-type": "application/json"} | ({"apikey": key} if key else {})
    return await cliente.post("/webhooks/evolution", content=raw, headers=headers)


def test_depth_ignores_brackets_in_strings() -> None:
    assert depth(b'{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert depth(b'{"a": "\\"[["}') == 1


async def test_deep_nesting_400_or_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    background = b"[" * 100_000 + b"]" * 100_000
    assert (await _send(cliente, background)).status_code == 400
    assert (await _send(cliente, background, key="errada")).status_code == 401
    assert (await _send(cliente, background, key=None)).status_code == 401
    at_limit = upsert()
    at_limit["data"]["contextInfo"] = json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))
    assert (await post(cliente, at_limit)).status_code == 200


async def test_large_body_413(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    large = _raw(upsert("x" * (MAX_BODY + 1)))
    assert (await _send(cliente, large)).status_code == 413
    # Its size is refused before any credential is looked at (julia.api.guard), and it is never read.
    assert (await _send(cliente, large, key="errada")).status_code == 413
    assert await pool.fetchval("SELECT count(*) FROM interacoes") == 0


async def test_non_ascii_key_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for key in ("\ud800", "chave-evolutiõn", "\x00"):
        assert (await _send(cliente, _raw(upsert(apikey=key)), key=None)).status_code == 401
    resposta = await cliente.post(
        "/webhooks/evolution", content=_raw(upsert()), headers={b"apikey": "çhave".encode()}
    )
    assert resposta.status_code == 401


async def test_nul_and_surrogate_in_the_text_stored(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = upsert("Tenho\x00 interesse \ud83d no plantão 😀")
    corpo["data"]["pushName"] = "Dra.\x00 Ana \udc00"
    resposta = await _send(cliente, _raw(corpo))
    assert resposta.status_code == 200
    assert await pool.fetchval("SELECT conteudo FROM interacoes") == "Tenho interesse \ufffd no plantão 😀"
    so_nul = upsert("\x00\x00", msg_id="N2")
    assert (await _send(cliente, _raw(so_nul))).json()["status"] == "ignorada"


async def test_invalid_ids_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for msg_id in ("3EB0\x00", "3EB0\ud800", "X" * 5000):
        assert (await _send(cliente, _raw(upsert(msg_id=msg_id)))).status_code == 400
    for jid in ("5511999990000\x00@s.whatsapp.net", "\udfff@s.whatsapp.net", "٣٣٣٣٣٣٣٣٣٣@s.whatsapp.net"):
        assert (await _send(cliente, _raw(upsert(jid=jid)))).status_code in (400, 422)
    conexao = {"event": "connection.update", "instance": "julia", "data": {"state": "op\x00en"}}
    assert (await _send(cliente, _raw(conexao))).status_code == 400
    assert await pool.fetchval("SELECT count(*) FROM interacoes") == 0


async def test_status_reason_fora_de_int4(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for reason in (2**31, -(2**31) - 1, 10**40, True, 1.5, "428"):
        dados = {"state": "close", "statusReason": reason}
        corpo = {"event": "connection.update", "instance": "julia", "data": dados}
        assert (await _send(cliente, _raw(corpo))).status_code == 200
        assert await pool.fetchval("SELECT status_reason FROM evolution_conexoes") is None


async def test_strange_event_not_echoed(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for evento in ("\ud800", "x" * 10_000, "evento\x00", "<script>"):
        resposta = await _send(cliente, _raw({"event": evento, "instance": "julia", "data": {}}))
        assert resposta.status_code == 200
        assert resposta.json() == {"status": "ignorada"}


async def test_invalid_utf8_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await _send(cliente, b'{"event": "\xff\xfe"}')).status_code == 400
    assert (await _send(cliente, b'{"event": ' + b"1" * 5000 + b"}")).status_code == 400
