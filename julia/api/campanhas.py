"""Campaign routes (issue 15), behind the same bearer token as /admin/metricas/*.

- POST /admin/campanhas: create a campaign (julia.services.campanhas.NovaCampanha as JSON). 201 with the
  campaign and how many doctors were queued; 200 with the existing campaign when the id was already
  used (nothing new is queued); 422 for an unknown placeholder or template, no audience, an unknown
  specialty, or free text with EVOLUTION_INTEGRATION=cloud-api (a campaign there names a template).
- GET /admin/campanhas/{id}: the campaign and its progress (queued, sent, delivered, read, not delivered,
  failed, replied, opted out).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from julia.api.admin import require_admin
from julia.api.audit import audited
from julia.api.deps import PoolDep, SettingsDep
from julia.services import admin, campanhas
from julia.services.campanhas import Campanha, NovaCampanha, StatusCampanha

router = APIRouter(prefix="/admin/campanhas", dependencies=[Depends(require_admin)])


@router.post("", status_code=201)
async def create(
    nova: NovaCampanha, pool: PoolDep, settings: SettingsDep, request: Request, response: Response
) -> Campanha:
    async with audited(pool, request, nova.model_dump(mode="json"), admin.named(nova.id)) as registro:
        try:
            campanha = await campanhas.criar_campanha(pool, settings, nova)
        except campanhas.InvalidCampanha as exc:
            raise HTTPException(422, str(exc)) from exc
        if not campanha.criada:
            response.status_code = 200
        registro.after, registro.status = campanha.model_dump(mode="json"), response.status_code or 201
    return campanha


@router.get("/{campanha_id}")
async def status(campanha_id: str, pool: PoolDep) -> StatusCampanha:
    found_one = await campanhas.status_campanha(pool, campanha_id)
    if found_one is None:
        raise HTTPException(404, f"no campaign {campanha_id!r}")
    return found_one
