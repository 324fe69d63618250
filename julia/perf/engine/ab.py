"""The same-run A/B run: the head (this checkout) against a base commit, both measured in this run, on
these servers, interleaved turn by turn (julia.perf.engine.turns).

1. The servers are resolved once by the caller (julia's CLI: julia.servers) and shared: each side gets
   a database of its own (perf.toml's [project] databases: julia_perf_head / julia_perf_base), migrated
   by its own migrations and seeded by its own seeder with the same seed and day, and a Redis logical
   database of its own (so their caches never mix).
2. The base is checked out into a git worktree (reports/out/base/<sha>) and run with its own code: the
   head's virtualenv when the dependency files are the same (PYTHONPATH puts the base's package first),
   else a virtualenv of its own, and then what differs (packages added, removed, upgraded; requirements
   declared) goes into the stamp as evidence (julia.perf.engine.deps). A base that predates the turn
   protocol, or a clone without its history, is said in one line and the run is judged on budgets only.
3. Each side is a pytest process of its own checkout (perf.toml's [project] suite folder); the
   coordinator grants turns in a random order each round, so the k-th blocks of a benchmark on both
   sides are measured side by side. Both processes run on one and the same CPU, and their Postgres
   backends (when this run can see them) on the others (julia.perf.engine.placement: why). Autovacuum
   is off while it runs, server-wide on a server started for the run, else table by table in each
   side's database, so no visit of its changes one side's plans behind the other's back
   (julia.perf.engine.autovacuum).
4. The head's results, with the base's inside (`Run.base`), go to one results.json for `julia perf gate`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from julia.perf.engine import autovacuum, deps, placement
from julia.perf.engine.config import Project
from julia.perf.engine.errors import PerfError
from julia.perf.engine.extra import ExtraBlocks
from julia.perf.engine.results import TOPOLOGY, Run, deps_hash
from julia.perf.engine.turns import COMPATIBLE, SIDE, TURNS, Coordinator
from julia.perf.engine.vcs import git

REDIS_DB = {"head": 1, "base": 2}


class Servers(Protocol):
    """The Postgres and Redis both sides share: the caller resolves them (the engine starts nothing)."""

    @property
    def database_url(self) -> str: ...

    @property
    def redis_url(self) -> str: ...


@dataclass(frozen=True)
class Side:
    name: str  # head | base
    root: Path  # its checkout
    python: str  # the interpreter that runs its pytest
    pythonpath: str | None  # its checkout first on the path, when it borrows the head's environment
    extra: tuple[str, ...] = ()  # pytest options for this side only (an injection)


def resolve_commit(root: Path, ref: str) -> str | None:
    return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def with_redis_db(url: str, db: int) -> str:
    """The same Redis server, logical database `db` (redis://host/N, or unix://path?db=N)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        # Not urlunsplit: with no host it writes "unix:/path", which redis-py 8.2 refuses ("unix://" only).
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def speaks_turns(root: Path, modules: Sequence[str]) -> bool:
    """Whether a checkout's perf suite takes turns (a protocol version this one speaks with,
    julia.perf.engine.turns). `modules`: where a checkout may keep the protocol, relative to its root
    (perf.toml's turn_modules; older commits keep it elsewhere)."""
    texts = [(root / module).read_text() for module in modules if (root / module).is_file()]
    return any(f"PROTOCOL = {v}" in text for text in texts for v in COMPATIBLE)


def prepare_base(head: Path, commit: str, out: Path) -> Side:
    """The base's checkout (a detached worktree, reused when already there) and its interpreter."""
    tree = out / "base" / commit[:12]
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        git(head, "worktree", "prune")
        if git(head, "worktree", "add", "--detach", "--force", str(tree), commit) is None:
            raise PerfError(f"could not check out the base {commit[:12]} into {tree}")
    if deps_hash(tree) == deps_hash(head):
        return Side("base", tree, sys.executable, str(tree))
    venv = tree / ".venv-perf"
    python = venv / "bin" / "python"
    if not python.is_file():
        print(f"perf: the base's dependencies differ from the head's; installing them into {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{tree}[perf]"], check=True)
    return Side("base", tree, str(python), None)


def choose_base(head: Path, ref: str | None, why: str) -> tuple[str | None, str]:
    """(commit, why): `ref` resolved (julia.perf.engine.base_choice chose it and says `why`), or None and
    the one line that says why not."""
    if not ref:
        return None, why
    commit = resolve_commit(head, ref)
    if commit is None:
        return None, f"no base: {ref} is not in this clone's history (a shallow clone?)"
    return commit, f"base {commit[:12]}: {why}"


async def run_sides(
    sides: list[Side],
    services: Servers,
    pytest_args: list[str],
    out: Path,
    project: Project,
    *,
    seed: int | None = None,
    server_applications: Sequence[str] = (),
    owns_server: bool = False,
    extra_blocks: ExtraBlocks | None = None,
    topology: str = "",
    said: list[str] | None = None,
) -> dict[str, Path]:
    """Both sides' pytest, turn by turn; returns each side's results file that was written.
    `said`: gets what the run did to the machine and the servers (placement, pins, autovacuum).
    `owns_server`: Postgres was started for this run, so autovacuum is paused server-wide, else table by
    table (engine.autovacuum); `extra_blocks`: the policy for more blocks of undecided benchmarks (None:
    the fixed counts only); `topology`: where the servers run, for the sides' machine class."""
    async with autovacuum.paused(services.database_url, owned=owns_server) as paused:
        admin = None if paused else await asyncpg.connect(services.database_url)
        try:
            tables = (
                autovacuum.TablesOff(admin, services.database_url, _databases(sides, project))
                if admin
                else None
            )
            return await _run_sides(
                sides,
                services,
                pytest_args,
                out,
                project,
                seed,
                server_applications,
                extra_blocks,
                topology,
                tables,
                said,
            )
        finally:
            if admin is not None:
                await admin.close()


def _databases(sides: Sequence[Side], project: Project) -> list[str]:
    return [project.database(side.name) for side in sides]


async def _run_sides(
    sides: list[Side],
    services: Servers,
    pytest_args: list[str],
    out: Path,
    project: Project,
    seed: int | None,
    server_applications: Sequence[str],
    extra_blocks: ExtraBlocks | None,
    topology: str,
    tables: autovacuum.TablesOff | None,
    said: list[str] | None,
) -> dict[str, Path]:
    plan = placement.plan()
    cpu = plan.client
    backends, unpinned = await placement.Backends.open(
        services.database_url, _databases(sides, project), plan.servers, server_applications
    )

    async def between_rounds() -> None:
        """While every side waits: nothing here lands in a timed block."""
        if backends is not None:
            await backends.pin_new()
        if tables is not None:
            await tables.check()

    coordinator = Coordinator(len(sides), seed=seed, between_rounds=between_rounds, extra_blocks=extra_blocks)
    address = await coordinator.start()
    serving = asyncio.create_task(coordinator.serve())
    procs: dict[str, asyncio.subprocess.Process] = {}
    results = {side.name: out / f"results-{side.name}.json" for side in sides}
    logs = {side.name: out / f"{side.name}.log" for side in sides}
    for side in sides:
        results[side.name].unlink(missing_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": services.database_url,
            "REDIS_URL": with_redis_db(services.redis_url, REDIS_DB[side.name]),
            project.variable(TURNS): address,
            project.variable(SIDE): side.name,
            # Read by every side's conftest, old bases included: the name is part of the protocol.
            project.variable("DATABASE"): project.database(side.name),
            # The side resolves nothing itself (DATABASE_URL is set): where the servers run is said here.
            **({project.variable(TOPOLOGY): topology} if topology else {}),
            **placement.server_cpus_env(plan, project.variables),
        }
        if side.pythonpath:
            env["PYTHONPATH"] = side.pythonpath + os.pathsep + env.get("PYTHONPATH", "")
        command = [
            side.python,
            "-m",
            "pytest",
            project.suite,
            "-p",
            "no:cacheprovider",
            f"--results={results[side.name]}",
            *pytest_args,
            *side.extra,
        ]
        # The head's progress goes to the terminal; the base's to a log, shown when it fails.
        stdout = None if side.name == "head" else logs[side.name].open("w")
        procs[side.name] = await asyncio.create_subprocess_exec(
            *command, cwd=side.root, env=env, stdout=stdout, stderr=subprocess.STDOUT if stdout else None
        )
        if cpu is not None:
            placement.pin(procs[side.name].pid, cpu)

    async def wait(name: str) -> int:
        code = await procs[name].wait()
        coordinator.side_exited()
        return code

    codes = dict(zip(procs, await asyncio.gather(*(wait(n) for n in procs)), strict=True))
    serving.cancel()
    for name, code in codes.items():
        if code != 0:
            tail = logs[name].read_text()[-3000:] if logs[name].is_file() else ""
            print(f"perf: the {name} side's pytest exited with {code}" + (f":\n{tail}" if tail else ""))
    done = [plan.note, backends.said() if backends is not None else unpinned]
    if backends is not None:
        await backends.close()
    if tables is not None:
        done.append(tables.said())
    done = [line for line in done if line]
    if said is not None:
        said += done
    print(f"perf: {len(coordinator.log)} turns, in a random order each round; " + "; ".join(done))
    if extra_blocks is not None and extra_blocks.granted:
        print(
            f"perf: {sum(extra_blocks.granted.values())} extra block pairs for {len(extra_blocks.granted)} "
            f"undecided benchmarks in {extra_blocks.spent_s:.0f} s (budget {extra_blocks.budget_s:.0f} s)"
        )
    return {name: path for name, path in results.items() if codes[name] == 0 and path.is_file()}


def merge(head_path: Path, base_path: Path | None, ab: dict[str, object], into: Path) -> Run:
    run = Run.load(head_path)
    run.base = Run.load(base_path) if base_path else None
    run.stamp["ab"] = ab
    run.save(into)
    return run


def run(
    head: Path,
    services: Servers,
    pytest_args: list[str],
    results: Path,
    *,
    base_ref: str | None,
    base_why: str = "no base given",
    project: Project,
    turn_modules: Sequence[str],
    server_applications: Sequence[str] = (),
    owns_server: bool = False,
    head_extra: tuple[str, ...] = (),
    base_extra: tuple[str, ...] = (),
    same_code: bool = False,
    alone: bool = False,
    extra_blocks: ExtraBlocks | None = None,
    topology: str = "",
) -> Run:
    """The whole A/B run into `results`, against `base_ref` (chosen for `base_why`: julia.perf.engine.
    base_choice). `same_code`: both sides are the head (calibration's A/A); `alone`: the head only (judged
    on budgets); `project`: names the sides' variables, databases and test folder (perf.toml);
    `turn_modules`: where a base keeps its turn protocol; `server_applications`: the servers
    whose backends stay unpinned (julia.perf.engine.placement); `owns_server`: Postgres was started for
    this run (julia.perf.engine.autovacuum); `extra_blocks`: more blocks for undecided benchmarks
    (julia.perf.engine.extra), recorded in the stamp; `topology`: where the servers run
    (embedded, container, url), part of the machine class."""
    # Absolute: each side's pytest runs in its own checkout, so a relative path would land in the base's.
    results = results.resolve()
    out = results.parent
    out.mkdir(parents=True, exist_ok=True)
    sides = [Side("head", head, sys.executable, str(head), head_extra)]
    ab: dict[str, object] = {"base_ref": base_ref}
    if alone:
        ab |= {"base_commit": None, "why": "--no-base: the head alone"}
    elif same_code:
        sides.append(Side("base", head, sys.executable, str(head), base_extra))
        ab |= {"base_commit": git(head, "rev-parse", "HEAD"), "why": "A/A: the head against itself"}
    else:
        commit, why = choose_base(head, base_ref, base_why)
        if commit is not None:
            base = prepare_base(head, commit, out)
            if base.python != sys.executable:  # installed apart: what differs is evidence (engine.deps)
                ab["dependencies"] = deps.difference(
                    deps.installed(sys.executable),
                    deps.installed(base.python),
                    deps.declared(head),
                    deps.declared(base.root),
                )
            if speaks_turns(base.root, turn_modules):
                sides.append(Side(base.name, base.root, base.python, base.pythonpath, base_extra))
            else:
                why = f"no base: {commit[:12]} predates the same-run A/B protocol"
        ab |= {"base_commit": commit, "why": why}
        print(f"perf: {why}" + ("" if len(sides) > 1 else "; judging budgets only"))
    started = time.monotonic()
    said: list[str] = []
    written = asyncio.run(
        run_sides(
            sides,
            services,
            pytest_args,
            out,
            project,
            server_applications=server_applications,
            owns_server=owns_server,
            extra_blocks=extra_blocks,
            topology=topology,
            said=said,
        )
    )
    ab["seconds"] = round(time.monotonic() - started, 1)
    ab["setup"] = "; ".join(said)  # what the report's stamp says the run did to the machine and servers
    if extra_blocks is not None:
        ab["extra_blocks"] = dict(extra_blocks.granted)
        ab["extra_s"] = round(extra_blocks.spent_s, 1)
    if "head" not in written:
        raise PerfError("the head's perf run failed (its output is above)")
    if len(sides) > 1 and "base" not in written:
        ab["why"] = f"{ab['why']}; the base's run failed ({out / 'base.log'}): budgets only"
    return merge(written["head"], written.get("base"), ab, results)
