"""`julia dev` fills in harmless local settings for what a newcomer lacks, and says each."""

from __future__ import annotations

from pydantic import SecretStr

from julia.commands.dev import DEV_KEY, complete
from julia.settings import Settings


def test_a_newcomer_gets_a_dev_admin_token_and_is_told_it() -> None:
    settings, avisos = complete(Settings(admin_token=None), 9001)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == DEV_KEY
    assert any(f"Authorization: Bearer {DEV_KEY}" in aviso for aviso in avisos)


def test_a_token_already_set_is_kept() -> None:
    settings, avisos = complete(Settings(admin_token=SecretStr("meu")), 9001)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "meu"
    assert not any("ADMIN_TOKEN" in aviso for aviso in avisos)


def test_a_newcomer_can_read_metrics_with_the_dev_token() -> None:
    settings, avisos = complete(Settings(metrics_token=None), 9001)
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == DEV_KEY
    assert any(aviso.startswith("METRICS_TOKEN unset") for aviso in avisos)


def test_a_newcomer_posts_webhooks_with_the_sending_key_and_is_told_it() -> None:
    settings, avisos = complete(Settings(evolution_webhook_secret=None), 9001)
    assert settings.evolution_webhook_sending_key
    assert any(aviso.startswith("EVOLUTION_WEBHOOK_SECRET unset") for aviso in avisos)


def test_a_webhook_secret_already_set_is_the_only_proof() -> None:
    settings, avisos = complete(Settings(evolution_webhook_secret=SecretStr("s")), 9001)
    assert not settings.evolution_webhook_sending_key
    assert not any("EVOLUTION_WEBHOOK_SECRET" in aviso for aviso in avisos)
