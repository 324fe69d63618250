"""`julia campanha` as an operator runs it: the same fields as POST /admin/campanhas, as flags."""

from __future__ import annotations

from julia import db, servers
from tests.acceptance.test_cli import julia


def test_an_unknown_placeholder_is_one_readable_line_and_a_non_zero_exit() -> None:
    result = julia("campanha", "--id", "x", "--tag", "cardio", "--texto", "Oi {nome}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "julia: campanha: texto: Value error, unknown placeholder {nome} in texto "
        "(known: {especialidade}, {primeiro_nome})"
    ]


def test_no_audience_is_refused_before_any_database() -> None:
    result = julia("campanha", "--id", "x", "--texto", "Oi", env={"DATABASE_URL": ""})
    assert result.returncode == 1
    assert "needs tag or especialidade_id" in result.stderr


def test_an_unknown_template_is_one_readable_line() -> None:
    result = julia("campanha", "--id", "x", "--tag", "cardio", "--modelo", "nao_existe")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "julia: campanha: modelo: Value error, unknown template 'nao_existe'"
    )


def test_free_text_on_the_cloud_api_is_refused(services: servers.Servers) -> None:
    env = {"DATABASE_URL": services.database_url, "EVOLUTION_INTEGRATION": "cloud-api"}
    result = julia("campanha", "--id", "x", "--tag", "cardio", "--texto", "Oi", env=env)
    assert result.returncode == 1
    assert "EVOLUTION_INTEGRATION is cloud-api: a campaign names an approved template" in result.stderr


async def test_creates_the_campaign_once_then_answers_the_existing_one(services: servers.Servers) -> None:
    dsn = await db.fresh_database(services.database_url, "julia_cli_campanha")
    conn = await db.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO clientes (telefone, primeiro_nome, status, tags)"
            " VALUES ('+5511900000001', 'Ana', 'ativo', '{cardio}'),"
            " ('+5511900000002', 'Bia', 'novo', '{cardio}'),"
            " ('+5511900000003', 'Caio', 'opt_out', '{cardio}')"
        )
        arguments = ("campanha", "--id", "dez", "--tag", "cardio", "--texto", "Oi {primeiro_nome}")
        first = julia(*arguments, "--por-minuto", "30", env={"DATABASE_URL": dsn})
        second = julia(*arguments, env={"DATABASE_URL": dsn})
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "campanha dez: 2 doctors queued (created)"
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "campanha dez: 2 doctors queued (already existed, nothing new queued)"
        assert await conn.fetchval("SELECT count(*) FROM fila_mensagens WHERE campanha_id = 'dez'") == 2
    finally:
        await conn.close()
        await db.drop_database(services.database_url, "julia_cli_campanha")
