"""The coordinators' edits through julia: shifts and doctors. Same bearer token as /admin/metricas/*.

- POST /admin/vagas: a new open shift -> 201 with it.
- PATCH /admin/vagas/{id}: any of status, valor, data_plantao -> 200 with the shift; the doctor holding
  it is told what changed (cancelled, released, confirmed, new date or value) through the send queue.
- PATCH /admin/medicos/{id}: any of especialidade_id, tags, status, telefone, primeiro_nome, sobrenome.

Bodies are validated (422 says which field and why, unknown fields included); 404 for an unknown id;
409 when the database refuses the change as it stands (a phone another doctor has; a shift reserved or
filled with no doctor: reserving is Júlia's reservar_vaga, which records who); 422 for a reference to a
hospital, specialty or period that does not exist. Every write invalidates the cache after its commit
(and the change feed tells the other processes), and is recorded in admin_auditoria (julia.api.audit).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from julia.api.admin import require_admin
from julia.api.audit import audited
from julia.api.deps import CacheDep, PoolDep
from julia.cache import atualizar_medico, criar_vaga
from julia.services import admin
from julia.services.avisos import change_vaga as mudar_e_avisar

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])

Valor = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2)]  # vagas.valor numeric(10, 2)
Nome = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _Partial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _any_field(self) -> _Partial:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent (an explicit null included), as JSON values for the jsonb patch."""
        return self.model_dump(mode="json", include=self.model_fields_set)


class NovaVaga(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hospital_id: int
    especialidade_id: int
    periodo_id: int
    data_plantao: dt.date
    valor: Valor


class VagaChange(_Partial):
    status: Literal["aberta", "reservada", "preenchida", "cancelada"] | None = None
    valor: Valor | None = None
    data_plantao: dt.date | None = None

    @model_validator(mode="after")
    def _without_nulls(self) -> VagaChange:
        nulls = sorted(k for k in self.model_fields_set if getattr(self, k) is None)
        if nulls:
            raise ValueError(f"a shift cannot have no {', '.join(nulls)}")
        return self


class MedicoChange(_Partial):
    especialidade_id: int | None = None
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]] | None = None
    status: Literal["novo", "ativo", "inativo", "bloqueado", "opt_out"] | None = None
    telefone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$")] | None = None
    primeiro_nome: Nome | None = None
    sobrenome: Nome | None = None

    @model_validator(mode="after")
    def _required(self) -> MedicoChange:
        for field in ("tags", "status", "telefone"):  # NOT NULL columns
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


def _vaga(vaga: dict[str, Any]) -> dict[str, Any]:
    return {**vaga, "valor": str(vaga["valor"])}  # an exact decimal string, never a float


@router.post("/vagas", status_code=201)
async def create(corpo: NovaVaga, pool: PoolDep, cache: CacheDep, request: Request) -> dict[str, Any]:
    async with audited(pool, request, corpo.model_dump(mode="json")) as registro:
        try:
            vaga = await criar_vaga(pool, cache, **corpo.model_dump())
        except asyncpg.ForeignKeyViolationError as exc:
            raise HTTPException(422, f"unknown reference: {exc.detail}") from exc
        resposta = registro.after = _vaga(vaga)
        registro.status = 201
    return resposta


@router.patch("/vagas/{vaga_id}")
async def change_vaga(
    vaga_id: int, corpo: VagaChange, pool: PoolDep, cache: CacheDep, request: Request
) -> dict[str, Any]:
    changes = corpo.changes()
    async with audited(pool, request, changes, admin.vaga(vaga_id)) as registro:
        try:
            # The doctor holding the shift is told what changed, through the send queue (services/avisos.py).
            vaga = await mudar_e_avisar(pool, cache, vaga_id, changes)
        except asyncpg.CheckViolationError as exc:
            raise HTTPException(
                409,
                "a reserved or filled shift needs a doctor, and this one has none: doctors reserve through "
                "Júlia (reservar_vaga), which records who",
            ) from exc
        if vaga is None:
            raise HTTPException(404, f"no shift {vaga_id}")
        resposta = registro.after = _vaga(vaga)
    return resposta


@router.patch("/medicos/{medico_id}")
async def change_medico(
    medico_id: int, corpo: MedicoChange, pool: PoolDep, cache: CacheDep, request: Request
) -> dict[str, Any]:
    changes = corpo.changes()
    async with audited(pool, request, changes, admin.medico(medico_id)) as registro:
        try:
            medico = await atualizar_medico(pool, cache, medico_id, changes)
        except asyncpg.UniqueViolationError as exc:
            raise HTTPException(409, "another doctor has this phone") from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise HTTPException(422, f"unknown reference: {exc.detail}") from exc
        if medico is None:
            raise HTTPException(404, f"no doctor {medico_id}")
        registro.after = medico
    return medico
