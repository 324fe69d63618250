"""The resumable rounds perf/causes_accuracy.py and perf/allocations_accuracy.py are measured in: rounds
of a few kinds (the evidence on and off; A/A and injected), interleaved, on the servers julia resolves;
the calibration's figures file, named by their machine class, rewritten after every round (a run stopped
half way keeps what it measured); `--resume` continuing from that file and `--rounds N` stopping after N
new rounds, so a long calibration takes the machine's lock one round at a time.

It sits beside the scripts, not in julia.perf.engine, because that is where its dependencies point: it
starts the servers through julia (julia.runtime, julia.settings), which the engine never imports
(README.md, Layout), and nothing but these scripts uses it (`julia perf calibrate` keeps its rounds in
memory). perf/history_trials.py shares none of it: its trials are appended to a log, never resumed. The
scripts run as `python perf/<script>.py`, which puts perf/ first on sys.path, so they import it as
`rounds`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from julia import runtime
from julia.perf.engine.config import Config
from julia.perf.engine.results import machine_class, reviewable_json
from julia.servers import Servers
from julia.settings import Settings


def add_options(parser: argparse.ArgumentParser, folder: str) -> None:
    """--resume, --rounds and --out (the figures file; default calibration/<folder>/<machine class>.json)."""
    parser.add_argument(
        "--resume", action="store_true", help="keep the rounds already written into the figures file (--out)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="measure at most this many new rounds, then stop (one per call: the lock taken per round)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"default: calibration/{folder}/<machine class>.json"
    )


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The command line, with --rounds checked (the script checks its own options after)."""
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


@dataclass(frozen=True)
class Calibration:
    """Where a calibration measures (its servers and their machine class) and writes (its figures file)."""

    found: Servers
    machine: str
    path: Path
    resume: bool
    limit: int | None  # --rounds

    @property
    def resumed(self) -> bool:
        """--resume with a file to continue; without one the calibration starts anew."""
        return self.resume and self.path.is_file()

    def todo(
        self, name: str, wanted: Mapping[str, int], done: Mapping[str, int]
    ) -> Iterator[tuple[str, int]]:
        """Each round still to measure as (kind, its index from 0), at most --rounds of them, said on stderr
        as it starts. Interleaved, one of each kind in turn (`wanted`'s order): a calibration stopped early
        keeps its kinds in proportion."""
        rounds = [
            (kind, r)
            for r in range(max(wanted.values()))
            for kind, count in wanted.items()
            if done.get(kind, 0) <= r < count
        ][: self.limit]
        for kind, r in rounds:
            print(f"{name}: {kind} round {r + 1}", file=sys.stderr, flush=True)
            yield kind, r


@contextlib.contextmanager
def calibrating(args: argparse.Namespace, cfg: Config, folder: str) -> Iterator[Calibration]:
    """The servers (throwaway ones when no URL names them) and the figures file of their machine class,
    known before the first round: a resumed calibration continues only rounds measured on the same class."""
    with runtime.find_servers(Settings(), throwaway=True) as found:
        machine = machine_class(
            asyncio.run(_pg_major(found.database_url)), found.topology, cfg.project.variables
        )
        path = args.out or cfg.calibration / folder / f"{machine}.json"
        yield Calibration(found, machine, path, args.resume, args.rounds)


def write(path: Path, payload: dict[str, Any]) -> None:
    """The figures file, written whole (after every round)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reviewable_json(payload))


async def _pg_major(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
