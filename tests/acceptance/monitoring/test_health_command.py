"""`julia health`: the /admin/metricas/health report from the command line (real Postgres and Redis)."""

from __future__ import annotations

import json

import pytest

from julia import servers
from julia.cli import main
from julia.db import fresh_database


@pytest.fixture
async def health_env(services: servers.Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", await fresh_database(services.database_url, "julia_health_cli"))
    monkeypatch.setenv("REDIS_URL", services.redis_url)


@pytest.mark.usefixtures("health_env")
def test_health_prints_the_admin_report_with_postgres_and_redis_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Synchronous: the CLI runs its own event loop, as it does for users.
    assert main(["health"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["postgres"]["ok"] is True
    assert report["redis"]["ok"] is True
    assert report["status"] in {"healthy", "degraded", "critical"}
    assert set(report) >= {"problemas", "fila", "envio", "whatsapp"}


@pytest.mark.usefixtures("health_env")
def test_health_with_redis_down_still_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["health"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["redis"]["ok"] is False
    assert any(p["key"] == "redis" for p in report["problemas"])


def test_health_without_the_urls_says_which_setting_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["health"]) == 1
    assert capsys.readouterr().err.strip() == "julia: missing required setting: DATABASE_URL, REDIS_URL"
