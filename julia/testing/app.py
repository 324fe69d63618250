"""The fake server's app: every service's routes plus `/_controle`, which a test or benchmark uses to
change latency and faults while it runs and to read what the fakes received."""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any, Literal

from fastapi import Body, FastAPI

from julia.testing import chatwoot, claude, evolution, slack
from julia.testing.state import Record, State

Service = Literal["claude", "evolution", "chatwoot", "slack"]


def make_app(estado: State | None = None, *, semente: int = 0) -> FastAPI:
    estado = estado or State()
    rng = random.Random(semente)  # seeded: a benchmark's latencies are the same draw run after run
    app = FastAPI(title="julia fakes")
    app.state.estado = estado
    app.include_router(claude.routes(estado, rng))
    app.include_router(evolution.routes(estado, rng))
    app.include_router(chatwoot.routes(estado, rng))
    app.include_router(slack.routes(estado))

    @app.get("/_controle")
    async def read() -> dict[str, Any]:
        return {"config": estado.config.model_dump(), "contadores": estado.registro.counters()}

    @app.patch("/_controle/{servico}")
    async def configure(servico: Service, campos: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        estado.configure(servico, campos)
        return dict(getattr(estado.config, servico).model_dump())

    @app.get("/_controle/enviadas")
    async def enviadas(desde: int = 0) -> dict[str, Any]:
        """sendText calls from index `desde` on: a benchmark polls with the last total it saw."""
        return {"total": len(estado.registro.enviadas), "enviadas": estado.registro.sends(desde)}

    @app.get("/_controle/claude")
    async def claude_latencies() -> list[float]:
        """The latency drawn for every Claude call, in order: what a run's time-to-reply is judged on."""
        return estado.registro.claude_latencias_s

    @app.get("/_controle/recibos")
    async def recibos() -> list[dict[str, Any]]:
        """The `messages.update` receipts posted to julia, with julia's answer to each."""
        return [asdict(r) for r in estado.registro.recibos]

    @app.get("/_controle/slack")
    async def slack_texts() -> list[str]:
        return estado.registro.slack

    @app.get("/_controle/chatwoot")
    async def chatwoot_calls() -> list[dict[str, Any]]:
        return estado.registro.chatwoot

    @app.post("/_controle/limpar")
    async def clear() -> dict[str, int]:
        estado.registro = Record()
        return estado.registro.counters()

    return app
