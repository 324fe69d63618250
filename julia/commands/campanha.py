"""`julia campanha`: create a campaign from the command line, as POST /admin/campanhas does (the same
fields as flags, the same service function). It writes to the DATABASE_URL the workers use, so it must
be set: a campaign queued in a database started just for the command would reach nobody."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pydantic import ValidationError

from julia import db
from julia.errors import JuliaError
from julia.services import campanhas
from julia.settings import Settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "campanha",
        help="create a campaign: queue one message per eligible doctor of a tag and/or specialty",
        description="Queue one message per eligible doctor (never opt_out, bloqueado or inativo), spread "
        "at --por-minuto inside the sending hours (CAMPANHA_HORA_INICIO to CAMPANHA_HORA_FIM, São Paulo "
        "time; each message is checked against the doctor's own clock, weekends, holidays and the weekly "
        "cap when it is about to go). --texto or --modelo (with EVOLUTION_INTEGRATION=cloud-api, --modelo). "
        "The same --id again creates nothing new. Needs DATABASE_URL.",
    )
    parser.add_argument("--id", required=True, help="the campaign's id, chosen by you (e.g. sp-cardio-dez)")
    parser.add_argument("--tag", help="doctors carrying this tag")
    parser.add_argument("--especialidade-id", type=int, metavar="N", help="doctors of this specialty")
    parser.add_argument("--estado", metavar="UF", help="only doctors whose CRM is of this state (e.g. SP)")
    parser.add_argument("--texto", help="the message; {primeiro_nome} and {especialidade} are filled in")
    parser.add_argument(
        "--modelo",
        metavar="NOME",
        help="an approved template of julia/templates.py instead of --texto (the only kind on the Cloud API)",
    )
    parser.add_argument(
        "--inicio", metavar="ISO8601", help="when to start (default: now; without offset: São Paulo time)"
    )
    parser.add_argument("--por-minuto", type=int, metavar="N", help="messages per minute (default: 20)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    campos = {
        "id": args.id,
        "tag": args.tag,
        "especialidade_id": args.especialidade_id,
        "estado": args.estado,
        "texto": args.texto,
        "modelo": args.modelo,
        "inicio": args.inicio,
        "por_minuto": args.por_minuto,
    }
    try:
        nova = campanhas.NovaCampanha(**{k: v for k, v in campos.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "campanha"
        raise JuliaError(f"campanha: {field}: {first['msg']}") from None
    settings = Settings()
    settings.require("database_url")
    assert settings.database_url is not None
    campanha = asyncio.run(_create(settings, settings.database_url, nova))
    situation = "created" if campanha.criada else "already existed, nothing new queued"
    print(f"campanha {campanha.id}: {campanha.enfileiradas} doctors queued ({situation})")
    return 0


async def _create(settings: Settings, dsn: str, nova: campanhas.NovaCampanha) -> campanhas.Campanha:
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await campanhas.criar_campanha(pool, settings, nova)
    finally:
        await pool.close()
