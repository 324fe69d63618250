"""The operational counts the runbook and the health check read, each from its table's module, and the
Postgres probe (julia/sql/operacao.sql: the one statement on no table)."""

from __future__ import annotations

from dataclasses import dataclass

from julia.data import conversations, entradas, fila_mensagens, handoffs
from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True)
class Operation:
    conversas_ativas: int
    entradas_abertas: int  # inbound messages not yet answered
    entrada_mais_antiga_s: float
    fila_pendente: int
    fila_vencida: int
    fila_mais_antiga_s: float
    handoffs_pendentes: int
    handoff_mais_antigo_s: float
    fila_incerta: int = 0  # sends whose outcome is unknown, held for a person (julia/worker/sender.py)


@metrics.timed("contar_operacao")
async def contar_operacao(db: Executor) -> Operation:
    active = await conversations.contar_conversas_ativas(db)
    abertas = await entradas.contar_entradas_abertas(db)
    queue = await fila_mensagens.contar_fila_pendente(db)
    pendentes = await handoffs.contar_handoffs_pendentes(db)
    uncertain = await fila_mensagens.contar_fila_incerta(db)
    return Operation(
        conversas_ativas=active,
        entradas_abertas=abertas.abertas,
        entrada_mais_antiga_s=abertas.mais_antiga_s,
        fila_pendente=queue.pendentes,
        fila_vencida=queue.vencidas,
        fila_mais_antiga_s=queue.mais_antiga_s,
        handoffs_pendentes=pendentes.pendentes,
        handoff_mais_antigo_s=pendentes.mais_antigo_s,
        fila_incerta=uncertain,
    )


async def ping(db: Executor) -> int:
    """1, from any pooled connection: proves Postgres answers (the health check times it)."""
    um: int = await db.fetchval(sql("ping"))
    return um
