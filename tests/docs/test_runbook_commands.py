"""Every command in docs/*.md runs: `julia` commands (short ones as subprocesses, long-running ones
through the real argument parser), `curl` calls against the app and the fake services, SQL against a
seeded database (each block in a transaction that is rolled back), Redis commands against Redis."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
import shlex
import subprocess
import sys

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from julia.cache import keys
from julia.cli import build_parser
from julia.errors import JuliaError
from julia.queries import sql
from julia.settings import Settings
from tests.docs import curl
from tests.docs.conftest import process_env
from tests.docs.markdown import DOCS, Block, all_blocks, commands, inline_julia

RUN = {"bash", "sql", "redis"}
NOT_COMMANDS = {"text", "ini", "yaml", "dockerfile", "json", "toml"}
# Started for real elsewhere (tests/acceptance) or heavy: here their exact arguments go through the parser.
PARSE_ONLY = {"serve", "worker", "dev", "servers", "seed"}
PARSE_ONLY_PERF = {"gate", "baseline", "scale", "changes", "find"}

BLOCKS = all_blocks()


def _of(lang: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang == lang and b.illustrative is None]


def julia(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real `julia` process (2-3 s each, mostly importing the Anthropic SDK: used sparingly)."""
    return subprocess.run(
        [sys.executable, "-m", "julia", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=process_env(env),
        check=False,
    )


def parses(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`julia {shlex.join(argv)}` does not parse (exit {exc.code})") from exc


def in_process(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """What `julia <argv>` does, minus the process start: the parsed command's `run`, with the docs'
    environment, in a thread (commands call asyncio.run). Its output, or AssertionError with the error."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            args = build_parser().parse_args(argv)
            code = args.run(args)
        except SystemExit as exc:  # --help
            code = exc.code
        except JuliaError as exc:
            raise AssertionError(f"julia {shlex.join(argv)}: {exc}") from exc
    assert not code, f"julia {shlex.join(argv)} exited {code}: {out.getvalue()}"
    return out.getvalue()


async def _run_julia(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in PARSE_ONLY or (command == "perf" and argv[argv.index("perf") + 1] in PARSE_ONLY_PERF):
        parses(argv)
        return
    await asyncio.to_thread(in_process, argv, env, monkeypatch)


def test_every_block_is_known_and_illustrative_ones_are_rare() -> None:
    langs = {b.lang for b in BLOCKS}
    assert langs <= RUN | NOT_COMMANDS, f"untested fence languages: {langs - RUN - NOT_COMMANDS}"
    illustrative = [b.id for b in BLOCKS if b.illustrative is not None]
    tested = [b.id for b in BLOCKS if b.lang in RUN and b.illustrative is None]
    assert len(illustrative) < len(tested) / 3, f"too many illustrative blocks: {illustrative}"
    assert len(_of("sql")) >= 10  # the runbook was really found and read
    assert len(_of("bash")) >= 5


@pytest.mark.parametrize("block", _of("bash"), ids=lambda b: b.id)
async def test_bash_block(
    block: Block, docs_env: dict[str, str], http_docs: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for line in commands(block):
        if line.startswith("julia "):
            await _run_julia(shlex.split(curl.expand(line, docs_env))[1:], docs_env, monkeypatch)
        elif line.startswith("curl "):
            await curl.run(curl.parse(line, docs_env), http_docs)
        else:
            raise AssertionError(
                f"{block.id}: `{line}` is neither julia nor curl; mark the block illustrative"
            )


@pytest.mark.parametrize("block", _of("sql"), ids=lambda b: b.id)
async def test_sql_block(block: Block, docs_pool: asyncpg.Pool) -> None:
    named = re.match(r"--\s*name:\s*(\w+)\s*\n", block.text)
    if named:
        assert _tokens(block.text) == _tokens(sql(named[1])), f"{block.id} differs from julia's {named[1]}"
    async with docs_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(block.text)
        finally:
            await tx.rollback()


@pytest.mark.parametrize("block", _of("redis"), ids=lambda b: b.id)
async def test_redis_block(block: Block, docs_redis: aioredis.Redis) -> None:
    for line in commands(block):
        await docs_redis.execute_command(*shlex.split(line))  # type: ignore[no-untyped-call]


def test_julia_commands_named_in_the_prose_exist() -> None:
    known = next(set(a.choices) for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for path in sorted(DOCS.glob("*.md")):
        for span in inline_julia(path):
            first = span.split()[0]
            if first.startswith("-"):
                continue
            assert first in known, f"{path.name}: `julia {span}` names no julia command"


def _tokens(text: str) -> list[str]:
    """SQL without comments, whitespace or a final semicolon: what must be identical."""
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return code.replace(";", " ; ").split()[: -1 if code.rstrip().endswith(";") else None]


# --- what some blocks are for, checked, not only that they run ---------------------------------------


def _block(text: str) -> Block:
    return next(b for b in _of("sql") if text in b.text)


async def test_requeue_blocks_put_recent_failures_back_and_nothing_else(docs_pool: asyncpg.Pool) -> None:
    async with docs_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            cliente = await conn.fetchval("SELECT id FROM clientes ORDER BY id LIMIT 1")
            recent = await conn.fetchval(
                "INSERT INTO fila_mensagens (cliente_id, conteudo, status, tentativas, last_error)"
                " VALUES ($1, 'oi', 'erro', 5, 'evolution: HTTP 500: boom') RETURNING id",
                cliente,
            )
            interacao = await conn.fetchrow(
                "SELECT id, cliente_id, conversa_id FROM interacoes WHERE direcao = 'entrada' LIMIT 1"
            )
            assert interacao is not None
            entrada = await conn.fetchval(
                "INSERT INTO entradas (interacao_id, cliente_id, conversa_id, status, tentativas, last_error)"
                " VALUES ($1, $2, $3, 'erro', 3, 'claude: HTTP 529: overloaded') RETURNING id",
                interacao["id"],
                interacao["cliente_id"],
                interacao["conversa_id"],
            )
            old_ones = await conn.fetchval(
                "SELECT count(*) FROM fila_mensagens WHERE status = 'erro' AND id <> $1", recent
            )
            await conn.execute(_block("UPDATE fila_mensagens\nSET status = 'pendente'").text)
            await conn.execute(_block("UPDATE entradas").text)
            estado = "SELECT status || tentativas FROM {} WHERE id = $1"
            assert await conn.fetchval(estado.format("fila_mensagens"), recent) == "pendente0"
            assert await conn.fetchval(estado.format("entradas"), entrada) == "pendente0"
            # The seed's failures are days old: an hours-old reply is not resent.
            assert old_ones > 0
            assert (
                await conn.fetchval("SELECT count(*) FROM fila_mensagens WHERE status = 'erro'") == old_ones
            )
        finally:
            await tx.rollback()


async def test_emergency_stop_commands_pause_and_resume(
    docs_env: dict[str, str], docs_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = julia(["pause-sending", "--reason", "teste do runbook"], docs_env)  # a real process, once
    assert paused.returncode == 0, paused.stderr
    assert await docs_redis.exists(keys.SENDING_STOP)

    def cli(*argv: str) -> str:
        return in_process(list(argv), docs_env, monkeypatch).strip()

    status = await asyncio.to_thread(cli, "sending-status")
    assert status.startswith("sending: PAUSED since ")
    assert "teste do runbook" in status
    assert await asyncio.to_thread(cli, "resume-sending") == "sending: running (resumed; lifted: manual)"
    assert await asyncio.to_thread(cli, "sending-status") == "sending: running"
    assert await asyncio.to_thread(cli, "resume-sending") == "sending: running (it was not paused)"


def test_emergency_stop_refuses_without_redis_url(docs_env: dict[str, str]) -> None:
    env = {k: v for k, v in docs_env.items() if k != "REDIS_URL"}
    result = julia(["pause-sending"], env)
    assert result.returncode == 1
    assert result.stderr.strip() == "julia: missing required setting: REDIS_URL"
