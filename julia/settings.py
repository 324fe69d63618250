"""Every setting julia reads, in one pydantic-settings class (names are the environment variables).

Nothing is read at import time: entrypoints build `Settings()` once and pass it down. Settings that only
some entrypoints need are optional here and demanded with `Settings.require(...)`, so `julia migrate`
does not ask for an Anthropic key while `julia worker` refuses to start without one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from julia.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # Servers. Required by serve and worker; unset, only julia dev, julia servers, the perf suite and
    # --throwaway start throwaway ones (testcontainers when Docker answers, else embedded): julia/runtime.py.
    database_url: str | None = Field(default=None, description="Postgres DSN (asyncpg form).")
    redis_url: str | None = Field(
        default=None, description="Redis/Valkey URL (redis://, rediss:// or unix://)."
    )
    db_pool_min: int = Field(default=2, ge=1, description="asyncpg pool: connections kept open.")
    db_pool_max: int = Field(default=20, ge=1, description="asyncpg pool: most connections at once.")

    # Claude.
    anthropic_api_key: SecretStr | None = Field(default=None, description="Anthropic API key.")
    anthropic_base_url: str | None = Field(
        default=None, description="Anthropic API base URL (the SDK's ANTHROPIC_BASE_URL)."
    )
    julia_model: str = Field(default="claude-sonnet-4-6", description="Claude model that writes replies.")
    anthropic_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one Claude call.")
    anthropic_max_retries: int = Field(default=2, ge=0, description="SDK retries on 429/5xx/timeouts.")

    # Evolution API (WhatsApp).
    evolution_url: str | None = Field(default=None, description="Evolution API base URL.")
    evolution_api_key: SecretStr | None = Field(
        default=None, description="Evolution API key (sendText); webhooks' key only when a setting says so."
    )
    evolution_webhook_secret: SecretStr | None = Field(
        default=None, description="Evolution webhooks' secret (X-Julia-Token); set, the key is not one."
    )
    evolution_webhook_sending_key: bool = Field(
        default=False,
        description="Without EVOLUTION_WEBHOOK_SECRET, accept the sending key in a webhook's `apikey` "
        "header; neither set, serve refuses to start.",
    )
    evolution_webhook_body_key: bool = Field(
        default=False, description="Accept the API key in a webhook's body `apikey` field (Evolution's own)."
    )
    evolution_instance: str = Field(default="julia", description="Evolution instance name.")
    evolution_rate_per_s: float = Field(
        default=30.0, gt=0, description="Most replies to waiting doctors sent per second (all workers)."
    )
    evolution_campanha_rate_per_s: float = Field(
        default=5.0, gt=0, description="Most campaign (unsolicited) messages sent per second (all workers)."
    )
    evolution_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one sendText call.")
    # The channel (issue 36): what Evolution's instance is, so what WhatsApp lets julia send on it.
    evolution_integration: Literal["baileys", "cloud-api"] = Field(
        default="baileys",
        description="The instance's integration: baileys (WHATSAPP-BAILEYS) or cloud-api (WHATSAPP-BUSINESS, "
        "templates outside the 24-hour window); the worker checks it against the instance at start.",
    )
    evolution_typing_delay_ms: int = Field(
        default=1500,
        ge=0,
        le=20_000,
        description="Baileys: milliseconds Evolution shows 'typing...' before each unsolicited message.",
    )
    evolution_campanha_max_per_hour: int = Field(
        default=100, ge=1, description="Baileys: most unsolicited messages the number sends in one hour."
    )
    evolution_campanha_max_per_day: int = Field(
        default=500, ge=1, description="Baileys: most unsolicited messages the number sends in one day."
    )
    evolution_warmup_since: dt.date | None = Field(
        default=None,
        description="Baileys: the day a new number started sending (unset: warmed up); the daily most "
        "ramps up over EVOLUTION_WARMUP_DAYS from it.",
    )
    evolution_warmup_days: int = Field(
        default=14,
        ge=1,
        description="Baileys: days a new number's daily most takes to reach the full figure.",
    )
    mensagem_antiga_s: int = Field(
        default=3600,
        ge=60,
        description="A message sent (messageTimestamp) longer ago than this when it arrives is stored and "
        "mirrored but not answered by Claude: one apology per conversation in such a window.",
    )

    # Chatwoot (human agents).
    chatwoot_url: str | None = Field(default=None, description="Chatwoot base URL.")
    chatwoot_api_token: SecretStr | None = Field(default=None, description="Chatwoot api_access_token.")
    chatwoot_account_id: int | None = Field(default=None, description="Chatwoot account id.")
    chatwoot_inbox_id: int | None = Field(
        default=None, description="Chatwoot API-channel inbox julia owns (docs/deploy.md#chatwoot)."
    )
    chatwoot_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of signed Chatwoot webhooks (4.11.2+)."
    )
    chatwoot_webhook_token: SecretStr | None = Field(
        default=None, description="Shared token for unsigned Chatwoot webhooks (?token= or header)."
    )
    chatwoot_timeout_s: float = Field(default=15.0, gt=0, description="Timeout of one Chatwoot API call.")

    # Slack.
    slack_webhook_url: str | None = Field(default=None, description="Slack incoming webhook for alerts.")
    slack_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one Slack post.")

    # Runtime.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")
    max_workers: int = Field(
        default=128,
        ge=1,
        description="Most doctors one worker answers at once (bound of its adaptive limit).",
    )
    # A running attempt renews it every third (a heartbeat), so it need not cover the slowest Claude call.
    queue_lease_s: int = Field(default=120, ge=1, description="Lease of a claimed queue row.")
    admin_token: SecretStr | None = Field(default=None, description="Bearer token of /admin routes.")
    metrics_token: SecretStr | None = Field(default=None, description="Bearer token of GET /metrics.")
    api_docs: bool = Field(default=False, description="Serve /docs and /openapi.json.")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body julia serve reads (413 above)."
    )

    # Unbounded consumption: what one WhatsApp number can make julia store and send to Claude.
    inbound_max_chars: int = Field(
        default=4000, ge=100, description="An inbound text is cut to this many characters (stored and sent)."
    )
    inbound_per_minute: int = Field(
        default=10, ge=1, description="Messages per number per minute answered by Claude; the rest stored."
    )
    inbound_per_day: int = Field(
        default=200, ge=1, description="Messages per number per day answered by Claude; the rest stored."
    )
    # Claude's daily budgets (julia/services/budget.py), per São Paulo day.
    lead_claude_replies_per_day: int = Field(
        default=20, ge=1, description="Replies Claude writes a lead a day; beyond, a person takes the lead."
    )
    claude_tokens_per_doctor_day: int = Field(
        default=300_000,
        ge=1,
        description="Claude tokens one doctor's replies may use a day; beyond, a person.",
    )
    claude_tokens_per_day: int = Field(
        default=30_000_000,
        ge=1,
        description="Claude tokens the whole service may use a day; beyond, no lead.",
    )

    # Measurement only (julia.gc_pauses): unset, nothing is recorded and nothing is paid.
    gc_pauses_dir: Path | None = Field(
        default=None, description="Where serve and worker write their garbage-collector pauses at exit."
    )

    # Cache.
    cache_ttl: int = Field(default=300, ge=1, description="Default cache TTL in seconds.")
    cache_ttl_medico: int = Field(default=300, ge=1, description="TTL of a cached doctor.")
    cache_ttl_vagas: int = Field(default=60, ge=1, description="TTL of cached open shifts.")
    cache_ttl_contexto: int = Field(default=120, ge=1, description="TTL of the static conversation context.")
    cache_timeout_ms: int = Field(default=50, ge=1, description="Redis call timeout before failing open.")

    # Monitoring thresholds.
    p95_degraded_ms: float = Field(
        default=1000.0, gt=0, description="p95 above this: degraded (operations without limits of their own)."
    )
    p95_critical_ms: float = Field(
        default=2000.0, gt=0, description="p95 above this: critical (operations without limits of their own)."
    )
    p95_limites_ms: dict[str, tuple[float, float]] = Field(
        default={}, description="Per-operation p95 limits in ms, JSON {name: [degraded, critical]}."
    )
    queue_degraded_age_s: int = Field(default=300, ge=1, description="Oldest pending message age: degraded.")
    queue_critical_age_s: int = Field(default=900, ge=1, description="Oldest pending message age: critical.")
    handoff_degraded_age_s: int = Field(default=600, ge=1, description="Oldest waiting handoff: degraded.")
    # Failed deliveries (julia/services/deliveries.py, from the receipts of julia/sql/recibos.sql). A sound
    # list fails a few per cent (numbers gone from WhatsApp, Meta's 131026 undeliverable); a tenth failing
    # is a bad list or a number WhatsApp has started to refuse, and each further unsolicited message then
    # costs the number's quality rating: campaigns stop for a person to look.
    delivery_failure_rate: float = Field(
        default=0.10, gt=0, le=1, description="Share of failed deliveries that pauses campaigns."
    )
    delivery_failure_min_receipts: int = Field(
        default=50, ge=1, description="Receipts in the window before the failure share is judged."
    )
    delivery_failure_window_s: int = Field(
        default=900, ge=60, description="Window of the failure share: messages first heard of this recently."
    )

    # Reservations (julia/services/reservas.py).
    reservas_abertas_max: int = Field(
        default=3,
        ge=1,
        description="Most reservations one doctor may hold awaiting the coordinators' confirmation.",
    )
    reserva_confirmacao_s: int = Field(
        default=86_400,
        ge=60,
        description="Seconds a reservation waits for confirmation (preenchida) before it reopens; "
        "the doctor is told.",
    )

    # Campaigns: when Júlia may write first, in São Paulo time (America/Sao_Paulo).
    campanha_hora_inicio: int = Field(
        default=8, ge=0, le=23, description="Hour campaign messages start going out (0 and 24: always)."
    )
    campanha_hora_fim: int = Field(
        default=20, ge=1, le=24, description="Hour campaign messages stop (before the start: past midnight)."
    )

    campanha_on_weekends: bool = Field(
        default=False, description="Campaign messages also go on Saturdays and Sundays (doctor's local day)."
    )
    campanha_on_holidays: bool = Field(
        default=False, description="Campaign messages also go on national holidays (and the extra dates)."
    )
    campanha_extra_holidays: list[dt.date] = Field(
        default=[], description="More days without campaign messages, JSON: state or city holidays, Carnival."
    )
    campanha_max_per_week: int = Field(
        default=2, ge=1, description="Most campaign messages one doctor receives in 7 days, all campaigns."
    )
    campanha_conversation_retry_s: int = Field(
        default=14_400,
        ge=60,
        description="Seconds before a campaign message put off (doctor in a conversation) is tried again.",
    )

    # LGPD retention (julia/services/lgpd.py): what is deleted after how long, by the worker or
    # `julia lgpd reter`.
    lgpd_retencao_leads_dias: int = Field(
        default=180, ge=1, description="Days after which an idle lead that never qualified is deleted."
    )
    lgpd_retencao_interacoes_dias: int = Field(
        default=730, ge=1, description="Days after which a message (and its queue rows) is deleted."
    )
    # Delivery receipts are operational data, not the doctor's history: they feed a campaign's report
    # (delivered, read) and the failed-delivery rate of the last minutes. Campaign reports are read in the
    # weeks after a campaign and compared over a quarter; past that a report's delivered/read become 0.
    recibos_retencao_dias: int = Field(
        default=90, ge=1, description="Days after which a message's delivery receipt is deleted."
    )
    lgpd_retencao_lote: int = Field(
        default=500, ge=1, description="Rows deleted per retention transaction (bounded locks and WAL)."
    )
    lgpd_retencao_intervalo_s: int = Field(
        default=3600, ge=0, description="Seconds between the worker's retention passes (0: never)."
    )

    @field_validator("evolution_webhook_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, valor: object) -> object:
        # `EVOLUTION_WEBHOOK_SECRET=` in an env file is no secret: as a SecretStr("") an empty
        # X-Julia-Token header would match it.
        return None if valor == "" else valor

    @model_validator(mode="after")
    def _campanha_window(self) -> Settings:
        if self.campanha_hora_inicio == self.campanha_hora_fim:
            raise ValueError("CAMPANHA_HORA_INICIO and CAMPANHA_HORA_FIM are equal: use 0 and 24 for always")
        return self

    def require(self, *names: str) -> None:
        """Stop start-up with one line naming the first missing setting."""
        missing = [name.upper() for name in names if getattr(self, name) in (None, "")]
        if missing:
            raise ConfigError(f"missing required setting: {', '.join(missing)}")


def describe_invalid(exc: ValidationError) -> str:
    """One line for settings the environment got wrong: the first bad one, what it wants, what it got.
    Values are quoted except for secrets (an API key in a terminal or a CI log is a leak)."""
    errors = exc.errors()
    first = errors[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a rule across settings (the campaign window): its message names them
        return f"invalid settings: {message}"
    field = str(first["loc"][0])  # a dict setting's key is further along: not the name
    secret = SecretStr in get_args(Settings.model_fields[field].annotation)
    shown = "" if secret else f" (got {first['input']!r})"
    more = f"; and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"invalid setting {field.upper()}: {message}{shown}{more}"
