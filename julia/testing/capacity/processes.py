"""The julia processes under test, started exactly as an operator starts them (`julia serve`,
`julia worker`), and what /proc says about their CPU."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import httpx

READY_S = 60.0
STOP_S = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def julia_cli() -> list[str]:
    """The `julia` console script of this interpreter's environment (the command operators type)."""
    script = Path(sys.executable).parent / "julia"
    return [str(script)] if script.exists() else [shutil.which("julia") or "julia"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces): state is [0]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    try:
        return [
            int(f) for t in Path(f"/proc/{pid}/task").iterdir() for f in (t / "children").read_text().split()
        ]
    except OSError:
        return []


def cpu_s(pid: int, *, children: bool = False) -> float | None:
    """User + system CPU seconds of `pid`; with `children`, plus its reaped children's and its live
    children's (Postgres's backends come and go under the postmaster). None when /proc lacks it."""
    fields = _stat(pid)
    if fields is None:
        return None
    # utime, stime, cutime, cstime are the 14th-17th fields of the file: [11]-[14] here.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
        for child in _children(pid):
            its = _stat(child)
            ticks += int(its[11]) + int(its[12]) if its else 0
    return ticks / TICKS


def parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    _output: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._output.close()


def start(
    name: str,
    arguments: list[str],
    environment: dict[str, str],
    folder: Path,
    program: list[str] | None = None,
) -> Process:
    """Start `program` (default: the `julia` command) with `arguments`, its output into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    output = log.open("wb")
    popen = subprocess.Popen(
        [*(program or julia_cli()), *arguments], env=environment, stdout=output, stderr=subprocess.STDOUT
    )
    return Process(name, popen, log, output)


def _wait(proc: Process, ready: Callable[[], bool]) -> None:
    """Until `pronto()`, or fail naming the process's log (it exited, or took longer than PRONTO_S)."""
    limit = time.monotonic() + READY_S
    while time.monotonic() < limit:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: see {proc.log}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready after {READY_S:.0f} s: see {proc.log}")


def wait_line(proc: Process, line: str) -> None:
    """Until the process has written `line` to its output."""
    _wait(proc, lambda: line in proc.log.read_text(errors="replace"))


def wait_http(url: str, proc: Process) -> None:
    """Until `url` answers 200 (the API is up)."""

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(proc, answers)


def run_main(main: Callable[[], int], what: str) -> NoReturn:
    """A command of this package as `python -m` runs it: Ctrl-C (and a SIGTERM its main turned into one)
    stops `what` with its processes and servers, said in one line, exit status 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{what} interrupted: its processes and servers are stopped", file=sys.stderr)
        sys.exit(130)
