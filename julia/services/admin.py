"""What the coordinators' and operators' /admin routes do beneath HTTP (julia/api/admin*.py,
julia/api/campanhas.py): every write audited around the write, and the live counts of the operation.

The audit (julia/data/admin_auditoria.py; migration 0013 says why a write is recorded before it runs):
`audited` records who, what and the target row before the write, and the answer and the row after once
the write is done; a write the audit cannot record does not run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from julia.data.admin_auditoria import Table, abrir_auditoria, fechar_auditoria
from julia.data.operacao import contar_operacao
from julia.health import PROBE_TIMEOUT_S


@dataclass(frozen=True)
class Target:
    """What a write is about: a row of an audited table (its before and after are recorded with it), or
    only a name (a campaign's id), or nothing yet (a row the write creates)."""

    tabela: Table | None = None
    row_id: int | None = None
    name: str | None = None


def vaga(vaga_id: int) -> Target:
    return Target("vagas", vaga_id, str(vaga_id))


def medico(medico_id: int) -> Target:
    return Target("clientes", medico_id, str(medico_id))


def named(name: str) -> Target:
    return Target(name=name)


@dataclass
class Outcome:
    """What the route sets once the write is done (or refused): the row after, and its status when not
    200."""

    after: Mapping[str, Any] | None = None
    status: int = 200


@contextlib.asynccontextmanager
async def audited(
    pool: asyncpg.Pool,
    *,
    operador: str,
    origem: str | None,
    acao: str,
    pedido: Mapping[str, Any] | None,
    target: Target,
) -> AsyncIterator[Outcome]:
    """The audit row is opened before the body runs and closed with the Outcome it set; a body that
    raises leaves it open (the caller records a refusal in the Outcome and raises after the block)."""
    auditoria_id = await abrir_auditoria(
        pool,
        operador=operador,
        origem=origem,
        acao=acao,
        alvo=target.name,
        pedido=pedido,
        tabela=target.tabela,
        target_id=target.row_id,
    )
    outcome = Outcome()
    yield outcome
    await fechar_auditoria(pool, auditoria_id, outcome.status, outcome.after)


async def operation_counts(pool: asyncpg.Pool) -> dict[str, Any]:
    """The queues and handoffs counted now, within the health probe's timeout; the figures are optional
    beside the latency summary, so a failure is answered as `{"erro": ...}` rather than raised."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return asdict(await contar_operacao(pool))
    except Exception as error:
        return {"erro": f"{type(error).__name__}: {error}"}
