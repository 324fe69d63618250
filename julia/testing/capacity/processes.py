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
from typing import IO

import httpx

PRONTO_S = 60.0
PARAR_S = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def julia_cli() -> list[str]:
    """The `julia` console script of this interpreter's environment (the command operators type)."""
    script = Path(sys.executable).parent / "julia"
    return [str(script)] if script.exists() else [shutil.which("julia") or "julia"]


def porta_livre() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces): state is [0]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _filhos(pid: int) -> list[int]:
    try:
        return [
            int(f) for t in Path(f"/proc/{pid}/task").iterdir() for f in (t / "children").read_text().split()
        ]
    except OSError:
        return []


def cpu_s(pid: int, *, filhos: bool = False) -> float | None:
    """User + system CPU seconds of `pid`; with `filhos`, plus its reaped children's and its live
    children's (Postgres's backends come and go under the postmaster). None when /proc lacks it."""
    campos = _stat(pid)
    if campos is None:
        return None
    # utime, stime, cutime, cstime are the 14th-17th fields of the file: [11]-[14] here.
    ticks = int(campos[11]) + int(campos[12])
    if filhos:
        ticks += int(campos[13]) + int(campos[14])
        for filho in _filhos(pid):
            dele = _stat(filho)
            ticks += int(dele[11]) + int(dele[12]) if dele else 0
    return ticks / TICKS


def pai(pid: int) -> int | None:
    campos = _stat(pid)
    return int(campos[1]) if campos else None


@dataclass
class Processo:
    nome: str
    popen: subprocess.Popen[bytes]
    log: Path
    _saida: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def parar(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(PARAR_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._saida.close()


def iniciar(
    nome: str,
    argumentos: list[str],
    ambiente: dict[str, str],
    pasta: Path,
    programa: list[str] | None = None,
) -> Processo:
    """Start `programa` (default: the `julia` command) with `argumentos`, its output into `pasta`."""
    pasta.mkdir(parents=True, exist_ok=True)
    log = pasta / f"{nome}.log"
    saida = log.open("wb")
    popen = subprocess.Popen(
        [*(programa or julia_cli()), *argumentos], env=ambiente, stdout=saida, stderr=subprocess.STDOUT
    )
    return Processo(nome, popen, log, saida)


def _esperar(processo: Processo, pronto: Callable[[], bool]) -> None:
    """Until `pronto()`, or fail naming the process's log (it exited, or took longer than PRONTO_S)."""
    limite = time.monotonic() + PRONTO_S
    while time.monotonic() < limite:
        if processo.popen.poll() is not None:
            raise RuntimeError(f"{processo.nome} exited with {processo.popen.returncode}: see {processo.log}")
        if pronto():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{processo.nome} not ready after {PRONTO_S:.0f} s: see {processo.log}")


def esperar_linha(processo: Processo, linha: str) -> None:
    """Until the process has written `linha` to its output."""
    _esperar(processo, lambda: linha in processo.log.read_text(errors="replace"))


def esperar_http(url: str, processo: Processo) -> None:
    """Until `url` answers 200 (the API is up)."""

    def responde() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    _esperar(processo, responde)
