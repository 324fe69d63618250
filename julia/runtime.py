"""What every entrypoint does first: settings, servers (resolved), a pool on a migrated schema."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg

from julia import db, servers
from julia.errors import ConfigError
from julia.migrate import migrate
from julia.settings import Settings

T = TypeVar("T")


@contextlib.contextmanager
def find_servers(
    settings: Settings, *, need_redis: bool = True, throwaway: bool = False
) -> Iterator[servers.Servers]:
    """The servers of DATABASE_URL / REDIS_URL. Only with `throwaway` (julia dev, julia servers, the perf
    suite, `--throwaway` on seed and migrate) are missing ones started, Docker or embedded, and deleted at
    exit: a production process with a variable missing would otherwise accept webhooks into a database
    that dies with it, and the API and the worker would each get a different one."""
    if not throwaway:
        wanted = ("database_url", "redis_url") if need_redis else ("database_url",)
        missing = [name.upper() for name in wanted if not getattr(settings, name)]
        if missing:
            raise ConfigError(
                f"missing required setting: {', '.join(missing)} (this command never starts servers of its "
                "own; `julia servers` or `julia dev` start throwaway ones)"
            )
    with servers.resolve(settings.database_url, settings.redis_url, need_redis=need_redis) as found:
        yield found


@contextlib.asynccontextmanager
async def migrated_pool(
    settings: Settings, dsn: str, *, application_name: str | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `dsn` whose schema is current (migrations are idempotent and serialised by a lock)."""
    pool = await db.create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        application_name=application_name,
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        yield pool
    finally:
        await pool.close()


def freeze_startup_heap() -> None:
    """Once a long-running process is set up: what is alive now (modules, the app, pools, clients) lives
    as long as the process, so it goes out of the cyclic collector's reach (gc.freeze) and each full
    collection scans only what the work allocates since. Measured before: `julia serve`'s generation-2
    collections took about 100 ms each at 200 webhooks/s on the project's 2-core machine, every few
    seconds, and every request arriving meanwhile queued behind them (the webhook load's p99 150 ms)."""
    gc.collect()
    gc.freeze()


def run_long(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run for a long-running process, on uvloop where it is installed (uvicorn[standard] brings
    it, and `julia serve` already runs on it through uvicorn): the worker spent about a fifth of its CPU in
    asyncio's own selector loop and socket transports under a reply storm (py-spy, 300 doctors)."""
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not exist there
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
