"""What the fake server is told (per-service settings, changed at run time) and what it saw."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from julia.testing.latency import Latency


class ConfigClaude(BaseModel):
    latencia: Latency = Latency()
    # Anthropic's requests-per-minute limit: beyond it a 429 with `retry-after` (a token bucket of rpm
    # requests refilled at rpm/60 a second, as the API describes its limiter). None: unlimited.
    rpm: int | None = Field(default=None, ge=1)
    falha: Literal["429", "529", "500", "hang"] | None = None
    fracao_falha: float = Field(default=1.0, ge=0, le=1)  # share of requests the fault hits
    eco: bool = True  # the reply quotes the doctor's last message (lets a test match reply to message)


class ConfigEvolution(BaseModel):
    latencia: Latency = Latency()
    # "lento": accepted and recorded, but answered after `lento_ms` (beyond julia's 30 s client timeout by
    # default): the send happened though julia saw a timeout, the case exactly-once delivery must survive.
    falha: Literal["500", "503", "400", "lento"] | None = None
    fracao_falha: float = Field(default=1.0, ge=0, le=1)
    lento_ms: float = Field(default=35_000.0, ge=0)
    imprimir: bool = False  # print each accepted send: `julia dev` shows Júlia's replies this way
    # The instance's integration (fetchInstances' `integration`): on "baileys" sendTemplate fails as
    # Evolution's Baileys service does; on "cloud-api" it goes to (a fake of) Meta. Its receipts too:
    # Baileys' (SERVER_ACK, DELIVERY_ACK, READ, ERROR; fromMe true) or the Cloud API's as Evolution
    # forwards them (SENT, DELIVERED, READ, FAILED; fromMe false, no error code).
    integracao: Literal["baileys", "cloud-api"] = "baileys"
    # Cloud API: the templates approved at Meta (None: every one of julia/templates.py), and the test
    # number's allow-list (None: any number), outside which Meta answers 131030.
    modelos_aprovados: list[str] | None = None
    permitidos: list[str] | None = None
    # A Meta error code every template send gets (with fracao_falha), e.g. 130429 (rate limit), 132001.
    falha_modelo: int | None = None
    # Cloud API: the numbers that have not written to the business number in 24 hours, as Meta counts
    # them: sendText to one answers 131047 (re-engagement message) as Evolution passes it on. None: the
    # fake does not know, and takes free text to any number.
    fora_das_24h: list[str] | None = None
    # Evolution's own webhooks to julia: `messages.update` receipts of each accepted send, and
    # `connection.update` when the control route changes the connection. None: none are posted.
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = Field(default_factory=dict)  # e.g. {"apikey": ...}
    fracao_falha_entrega: float = Field(default=0.0, ge=0, le=1)  # accepted, then failed
    fracao_lida: float = Field(default=0.0, ge=0, le=1)  # of the delivered ones, read too
    recibos_atraso_ms: float = Field(default=0.0, ge=0)  # 0: the receipt may beat sendText's own 201
    recibos_repetidos: bool = False  # every receipt posted twice (Evolution retries, a redelivery)
    recibos_invertidos: bool = False  # a message's receipts in reverse order (read before delivered)
    # The instance's own Chatwoot integration (GET /chatwoot/find/{instance} `enabled`): the topology julia
    # refuses at start-up (julia/services/topology.py).
    chatwoot: bool = False


class ConfigChatwoot(BaseModel):
    latencia: Latency = Latency()
    # Set: like Chatwoot, GET /api/v1/profile without this `api_access_token` is a 401. None: any token.
    token: str | None = None
    falha: Literal["500", "422"] | None = None
    fracao_falha: float = Field(default=1.0, ge=0, le=1)
    # The inbox as GET .../inboxes/{id} describes it: julia's topology is an API channel with no webhook
    # URL of its own; "Channel::Whatsapp", or Evolution's `<evolution>/chatwoot/webhook/<instance>` as the
    # URL, are what julia refuses at start-up.
    canal: str = "Channel::Api"
    webhook_inbox: str | None = None
    # The account webhook: where `message_created` goes for every message created, julia's own included
    # (as Chatwoot does), signed with `segredo` (X-Chatwoot-Signature) when set, each delivered `entregas`
    # times with the same X-Chatwoot-Delivery (Chatwoot retrying). None: no webhooks (the benchmarks').
    webhook: str | None = None
    segredo: str | None = None
    entregas: int = Field(default=1, ge=1)


class ConfigSlack(BaseModel):
    falha: Literal["429", "500"] | None = None


class Config(BaseModel):
    claude: ConfigClaude = ConfigClaude()
    evolution: ConfigEvolution = ConfigEvolution()
    chatwoot: ConfigChatwoot = ConfigChatwoot()
    slack: ConfigSlack = ConfigSlack()


@dataclass(frozen=True)
class Send:
    """One sendText as Evolution saw it; `status` is what it answered (201: WhatsApp has it)."""

    numero: str
    texto: str
    recebido_em: float  # time.time() on arrival: the benchmark's end of a doctor's wait
    status: int
    id: str | None
    modelo: str | None = None  # a sendTemplate: the template's name (`texto` is what Evolution stores)
    parametros: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """One `messages.update` the fake posted to julia, and julia's answer (None: no answer)."""

    id: str
    status: str
    resposta: int | None


@dataclass
class Record:
    enviadas: list[Send] = field(default_factory=list)
    recibos: list[Receipt] = field(default_factory=list)
    chatwoot: list[dict[str, Any]] = field(default_factory=list)  # method, path, body of every call
    chatwoot_webhooks: list[int] = field(default_factory=list)  # julia's answer to each webhook delivered
    slack: list[str] = field(default_factory=list)
    claude_pedidos: int = 0
    claude_429: int = 0
    claude_falhas: int = 0  # answered with a fault mode (429/529/500 from `falha`)
    claude_em_voo: int = 0
    claude_pico_em_voo: int = 0
    claude_ultimo: dict[str, Any] | None = None  # the last request body (all of them would not fit a storm)
    claude_latencias_s: list[float] = field(default_factory=list)  # drawn for each call past the rate limit

    def counters(self) -> dict[str, int]:
        accepted_ones = sum(1 for e in self.enviadas if e.status == 201)
        return {
            "enviadas": len(self.enviadas),
            "enviadas_aceitas": accepted_ones,
            "recibos": len(self.recibos),
            "chatwoot": len(self.chatwoot),
            "slack": len(self.slack),
            "claude_pedidos": self.claude_pedidos,
            "claude_429": self.claude_429,
            "claude_falhas": self.claude_falhas,
            "claude_em_voo": self.claude_em_voo,
            "claude_pico_em_voo": self.claude_pico_em_voo,
        }

    def sends(self, desde: int) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.enviadas[desde:]]


@dataclass
class Bucket:
    """Token bucket for the fake Anthropic's rpm limit."""

    rpm: int
    fichas: float
    em: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when a request may pass (and takes its token), else the seconds until the next token."""
        now = time.monotonic()
        self.fichas = min(float(self.rpm), self.fichas + (now - self.em) * self.rpm / 60.0)
        self.em = now
        if self.fichas >= 1.0:
            self.fichas -= 1.0
            return 0.0
        return (1.0 - self.fichas) * 60.0 / self.rpm


@dataclass
class State:
    config: Config = field(default_factory=Config)
    registro: Record = field(default_factory=Record)
    balde: Bucket | None = None
    conexao: str = "open"  # the WhatsApp connection's state: sendText fails unless "open"

    def configure(self, servico: str, campos: dict[str, Any]) -> None:
        """Merge `campos` into one service's settings (a nested `latencia` is replaced whole)."""
        current = getattr(self.config, servico)
        new = type(current).model_validate({**current.model_dump(), **campos})
        setattr(self.config, servico, new)
        if servico == "claude":
            rpm = self.config.claude.rpm
            self.balde = Bucket(rpm, float(rpm)) if rpm else None
