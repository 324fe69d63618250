"""`julia lgpd export|apagar|reter`: a data subject's request and the retention pass (julia/services/lgpd.py).

They act on the DATABASE_URL and REDIS_URL the service uses, so both must be set: erasing a person from
servers started just for the command would erase nothing. `reter` needs only DATABASE_URL. `apagar`
also deletes the person's Chatwoot contact when the CHATWOOT_* settings are there, as on the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from julia import db
from julia.errors import JuliaError
from julia.integrations.chatwoot import Chatwoot
from julia.integrations.http import cliente_http
from julia.services import lgpd
from julia.settings import Settings

T = TypeVar("T")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lgpd",
        help="data subject requests (LGPD): export or erase everything about a phone; the retention pass",
        description="A doctor's or lead's data, found by phone in every table and in Redis (runbook: "
        "'Data subject requests'). Needs DATABASE_URL and REDIS_URL (reter: DATABASE_URL).",
    )
    actions = parser.add_subparsers(dest="acao", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="everything held about a phone, as JSON")
    export.add_argument("--telefone", required=True, help="the phone, E.164 (+5511987654321)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write the JSON here (default: stdout)")
    export.set_defaults(run=_export)
    apagar = actions.add_parser(
        "apagar",
        help="erase a phone's data from every table and Redis; keeps only a hash of it and the opt-out date",
    )
    apagar.add_argument("--telefone", required=True, help="the phone, E.164 (+5511987654321)")
    apagar.set_defaults(run=_erase)
    reter = actions.add_parser(
        "reter",
        help="one retention pass now (the worker runs it every LGPD_RETENCAO_INTERVALO_S): idle leads "
        "that never qualified, old messages",
    )
    reter.set_defaults(run=_hold)


def _export(args: argparse.Namespace) -> int:
    telefone = lgpd.normalize_phone(args.telefone)
    dados = _with_servers(lambda pool, redis: lgpd.export(pool, redis, telefone))
    texto = json.dumps(dados, ensure_ascii=False, indent=2, default=str)
    if args.out is None:
        print(texto)
    else:
        args.out.write_text(texto + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _erase(args: argparse.Namespace) -> int:
    telefone = lgpd.normalize_phone(args.telefone)

    def progress(texto: str) -> None:
        print(texto, file=sys.stderr, flush=True)

    async def apagar(pool: asyncpg.Pool, redis: aioredis.Redis) -> lgpd.Erasure:
        if not Chatwoot.configured(settings):
            return await lgpd.apagar(pool, redis, telefone, progress)
        async with cliente_http() as http:
            return await lgpd.apagar(pool, redis, telefone, progress, Chatwoot(settings, http))

    settings = Settings()
    done = _with_servers(apagar)
    print(done.linha())
    if done.chatwoot_pending is not None:
        raise JuliaError(
            f"Chatwoot contact {done.chatwoot_contact} not deleted ({done.chatwoot_pending}): delete it "
            "in Chatwoot (Contacts), with its conversations; julia's side is done"
        )
    return 0


def _hold(args: argparse.Namespace) -> int:
    settings = Settings()
    settings.require("database_url")
    assert settings.database_url is not None
    dsn = settings.database_url

    async def run() -> lgpd.Retention:
        pool = await db.create_pool(dsn, min_size=1, max_size=1)
        try:
            return await lgpd.reter(pool, settings, progress=lambda t: print(t, file=sys.stderr, flush=True))
        finally:
            await pool.close()

    print(asyncio.run(run()).linha())
    return 0


def _with_servers(acao: Callable[[asyncpg.Pool, aioredis.Redis], Awaitable[T]]) -> T:
    settings = Settings()
    settings.require("database_url", "redis_url")
    assert settings.database_url is not None
    assert settings.redis_url is not None
    return asyncio.run(_run(settings.database_url, settings.redis_url, acao))


async def _run(dsn: str, url: str, acao: Callable[[asyncpg.Pool, aioredis.Redis], Awaitable[T]]) -> T:
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    redis = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await acao(pool, redis)
    except RedisError as exc:
        # Postgres errors are DatabaseUnavailable already (julia.db); an erasure that got here committed
        # in Postgres, and running it again finishes Redis (it is idempotent).
        raise JuliaError(f"cannot reach Redis at REDIS_URL: {exc}; run the command again") from exc
    finally:
        await redis.aclose()
        await pool.close()
