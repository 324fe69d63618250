"""`julia lgpd` as an operator runs it: one readable line and exit 1 for what it cannot do, the JSON
export on stdout or in a file, the erasure's summary with the phone masked."""

from __future__ import annotations

import json
from pathlib import Path

from julia import db, servers
from tests.acceptance.test_cli import julia


def test_a_malformed_phone_or_a_missing_server_is_one_line() -> None:
    malformed = julia("lgpd", "apagar", "--telefone", "abc")
    assert malformed.returncode == 1
    assert malformed.stderr.strip().splitlines() == [
        "julia: --telefone 'abc' is not a phone number (E.164, e.g. +5511987654321)"
    ]
    without_redis = julia("lgpd", "export", "--telefone", "+5511987654321", env={"REDIS_URL": ""})
    assert without_redis.returncode == 1
    assert without_redis.stderr.strip().splitlines()[-1].startswith("julia: missing required setting:")


async def test_export_then_erase_then_unknown(services: servers.Servers, tmp_path: Path) -> None:
    dsn = await db.fresh_database(services.database_url, "julia_cli_lgpd")
    env = {"DATABASE_URL": dsn, "REDIS_URL": services.redis_url}
    conn = await db.connect(dsn)
    try:
        await conn.execute("TRUNCATE titulares_apagados")
        await conn.execute(
            "INSERT INTO clientes (telefone, primeiro_nome, status) VALUES ('+5511900007777', 'Ana', 'ativo')"
        )
        output = tmp_path / "titular.json"
        export = julia("lgpd", "export", "--telefone", "5511900007777", "--out", str(output), env=env)
        assert export.returncode == 0, export.stderr
        assert json.loads(output.read_text())["clientes"]["primeiro_nome"] == "Ana"

        apagar = julia("lgpd", "apagar", "--telefone", "+55 11 90000-7777", env=env)
        assert apagar.returncode == 0, apagar.stderr
        assert apagar.stdout.strip().startswith("+55*******7777: erased clientes 1, conversations 0,")
        assert "5511900007777" not in apagar.stdout + apagar.stderr

        unknown = julia("lgpd", "apagar", "--telefone", "+5511900008888", env=env)
        assert unknown.returncode == 1
        assert unknown.stderr.strip().splitlines() == [
            "julia: no doctor or lead has the phone +55*******8888, and it was never erased"
        ]
    finally:
        await conn.close()
        await db.drop_database(services.database_url, "julia_cli_lgpd")
