"""The fake server's app: every service's routes plus `/_controle`, which a test or benchmark uses to
change latency and faults while it runs and to read what the fakes received."""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any, Literal

from fastapi import Body, FastAPI

from julia.testing import chatwoot, claude, evolution, slack
from julia.testing.estado import Estado, Registro

Servico = Literal["claude", "evolution", "chatwoot", "slack"]


def criar_app(estado: Estado | None = None, *, semente: int = 0) -> FastAPI:
    estado = estado or Estado()
    rng = random.Random(semente)  # seeded: a benchmark's latencies are the same draw run after run
    app = FastAPI(title="julia fakes")
    app.state.estado = estado
    app.include_router(claude.rotas(estado, rng))
    app.include_router(evolution.rotas(estado, rng))
    app.include_router(chatwoot.rotas(estado, rng))
    app.include_router(slack.rotas(estado))

    @app.get("/_controle")
    async def ler() -> dict[str, Any]:
        return {"config": estado.config.model_dump(), "contadores": estado.registro.contadores()}

    @app.patch("/_controle/{servico}")
    async def configurar(servico: Servico, campos: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        estado.configurar(servico, campos)
        return dict(getattr(estado.config, servico).model_dump())

    @app.get("/_controle/enviadas")
    async def enviadas(desde: int = 0) -> dict[str, Any]:
        """sendText calls from index `desde` on: a benchmark polls with the last total it saw."""
        return {"total": len(estado.registro.enviadas), "enviadas": estado.registro.envios(desde)}

    @app.get("/_controle/claude")
    async def latencias_claude() -> list[float]:
        """The latency drawn for every Claude call, in order: what a run's time-to-reply is judged on."""
        return estado.registro.claude_latencias_s

    @app.get("/_controle/recibos")
    async def recibos() -> list[dict[str, Any]]:
        """The `messages.update` receipts posted to julia, with julia's answer to each."""
        return [asdict(r) for r in estado.registro.recibos]

    @app.get("/_controle/slack")
    async def textos_slack() -> list[str]:
        return estado.registro.slack

    @app.get("/_controle/chatwoot")
    async def chamadas_chatwoot() -> list[dict[str, Any]]:
        return estado.registro.chatwoot

    @app.post("/_controle/limpar")
    async def limpar() -> dict[str, int]:
        estado.registro = Registro()
        return estado.registro.contadores()

    return app
