from __future__ import annotations

from typing import Any

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@metrics.timed("registrar_chamada_ferramenta")
async def registrar_chamada_ferramenta(
    db: Executor,
    *,
    conversa_id: int,
    interacao_id: int,
    ferramenta: str,
    entrada: dict[str, Any],
    resultado: dict[str, Any],
    erro: bool,
) -> None:
    await db.execute(
        sql("registrar_chamada_ferramenta"), conversa_id, interacao_id, ferramenta, entrada, resultado, erro
    )


async def chamadas_ferramenta_do_titular(db: Executor, cliente_id: int) -> list[dict[str, Any]]:
    """LGPD export: the tools Júlia ran in the doctor's conversations, each row as JSON."""
    return [r["linha"] for r in await db.fetch(sql("chamadas_ferramenta_do_titular"), cliente_id)]
