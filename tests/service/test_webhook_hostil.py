"""POST /webhooks/evolution under hostile or broken bodies: never a 5xx for a body it can judge, the key
checked before anything else, the doctor's text kept when only a stray character is wrong."""

from __future__ import annotations

import json

import asyncpg
import httpx

from julia.api.webhooks import MAX_CORPO, MAX_PROFUNDIDADE, profundidade
from tests.service.conftest import CHAVE, postar, upsert


def _bruto(corpo: object) -> bytes:
    """JSON as Evolution could send it: lone surrogates and NUL as \\u escapes (ensure_ascii)."""
    return json.dumps(corpo).encode()


async def _enviar(cliente: httpx.AsyncClient, bruto: bytes, chave: str | None = CHAVE) -> httpx.Response:
    cabecalhos = {"content-type": "application/json"} | ({"apikey": chave} if chave else {})
    return await cliente.post("/webhooks/evolution", content=bruto, headers=cabecalhos)


def test_profundidade_ignora_colchetes_em_strings() -> None:
    assert profundidade(b'{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert profundidade(b'{"a": "\\"[["}') == 1


async def test_aninhamento_profundo_400_ou_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    fundo = b"[" * 100_000 + b"]" * 100_000
    assert (await _enviar(cliente, fundo)).status_code == 400
    assert (await _enviar(cliente, fundo, chave="errada")).status_code == 401
    assert (await _enviar(cliente, fundo, chave=None)).status_code == 401
    no_limite = upsert()
    no_limite["data"]["contextInfo"] = json.loads("[" * (MAX_PROFUNDIDADE - 2) + "]" * (MAX_PROFUNDIDADE - 2))
    assert (await postar(cliente, no_limite)).status_code == 200


async def test_corpo_grande_413(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    grande = _bruto(upsert("x" * (MAX_CORPO + 1)))
    assert (await _enviar(cliente, grande)).status_code == 413
    # Its size is refused before any credential is looked at (julia.api.guard), and it is never read.
    assert (await _enviar(cliente, grande, chave="errada")).status_code == 413
    assert await pool.fetchval("SELECT count(*) FROM interacoes") == 0


async def test_chave_nao_ascii_401(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for chave in ("\ud800", "chave-evolutiõn", "\x00"):
        assert (await _enviar(cliente, _bruto(upsert(apikey=chave)), chave=None)).status_code == 401
    resposta = await cliente.post(
        "/webhooks/evolution", content=_bruto(upsert()), headers={b"apikey": "çhave".encode()}
    )
    assert resposta.status_code == 401


async def test_nul_e_surrogate_no_texto_guardados(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    corpo = upsert("Tenho\x00 interesse \ud83d no plantão 😀")
    corpo["data"]["pushName"] = "Dra.\x00 Ana \udc00"
    resposta = await _enviar(cliente, _bruto(corpo))
    assert resposta.status_code == 200
    assert await pool.fetchval("SELECT conteudo FROM interacoes") == "Tenho interesse \ufffd no plantão 😀"
    so_nul = upsert("\x00\x00", msg_id="N2")
    assert (await _enviar(cliente, _bruto(so_nul))).json()["status"] == "ignorada"


async def test_ids_invalidos_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for msg_id in ("3EB0\x00", "3EB0\ud800", "X" * 5000):
        assert (await _enviar(cliente, _bruto(upsert(msg_id=msg_id)))).status_code == 400
    for jid in ("5511999990000\x00@s.whatsapp.net", "\udfff@s.whatsapp.net", "٣٣٣٣٣٣٣٣٣٣@s.whatsapp.net"):
        assert (await _enviar(cliente, _bruto(upsert(jid=jid)))).status_code in (400, 422)
    conexao = {"event": "connection.update", "instance": "julia", "data": {"state": "op\x00en"}}
    assert (await _enviar(cliente, _bruto(conexao))).status_code == 400
    assert await pool.fetchval("SELECT count(*) FROM interacoes") == 0


async def test_status_reason_fora_de_int4(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for razao in (2**31, -(2**31) - 1, 10**40, True, 1.5, "428"):
        dados = {"state": "close", "statusReason": razao}
        corpo = {"event": "connection.update", "instance": "julia", "data": dados}
        assert (await _enviar(cliente, _bruto(corpo))).status_code == 200
        assert await pool.fetchval("SELECT status_reason FROM evolution_conexoes") is None


async def test_evento_estranho_nao_ecoado(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    for evento in ("\ud800", "x" * 10_000, "evento\x00", "<script>"):
        resposta = await _enviar(cliente, _bruto({"event": evento, "instance": "julia", "data": {}}))
        assert resposta.status_code == 200
        assert resposta.json() == {"status": "ignorada"}


async def test_utf8_invalido_400(cliente: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await _enviar(cliente, b'{"event": "\xff\xfe"}')).status_code == 400
    assert (await _enviar(cliente, b'{"event": ' + b"1" * 5000 + b"}")).status_code == 400
