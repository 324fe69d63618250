"""The operational counts the runbook and the health check read."""

from __future__ import annotations

from dataclasses import dataclass

from julia.data._executor import Executor
from julia.metrics import metrics
from julia.queries import sql


@dataclass(frozen=True)
class Operacao:
    conversas_ativas: int
    entradas_abertas: int  # inbound messages not yet answered
    entrada_mais_antiga_s: float
    fila_pendente: int
    fila_vencida: int
    fila_mais_antiga_s: float
    handoffs_pendentes: int
    handoff_mais_antigo_s: float
    fila_incerta: int = 0  # sends whose outcome is unknown, held for a person (julia/worker/remetente.py)


@metrics.timed("contar_operacao")
async def contar_operacao(db: Executor) -> Operacao:
    ativas = await db.fetchval(sql("contar_conversas_ativas"))
    entradas = await db.fetchrow(sql("contar_entradas_abertas"))
    fila = await db.fetchrow(sql("contar_fila_pendente"))
    handoffs = await db.fetchrow(sql("contar_handoffs_pendentes"))
    incerta = await db.fetchval(sql("contar_fila_incerta"))
    # Aggregates without GROUP BY always return exactly one row.
    assert entradas is not None
    assert fila is not None
    assert handoffs is not None
    return Operacao(
        conversas_ativas=ativas,
        entradas_abertas=entradas["abertas"],
        entrada_mais_antiga_s=entradas["mais_antiga_s"],
        fila_pendente=fila["pendentes"],
        fila_vencida=fila["vencidas"],
        fila_mais_antiga_s=fila["mais_antiga_s"],
        handoffs_pendentes=handoffs["pendentes"],
        handoff_mais_antigo_s=handoffs["mais_antigo_s"],
        fila_incerta=incerta,
    )
