"""`python -m julia.testing.server`: the fakes as a real process on loopback.

With `--port 0` the OS picks the port; the first stdout line is `julia-falsos <url>` (and `--url-file`
gets the URL too), so a parent process knows where to point EVOLUTION_URL, ANTHROPIC_BASE_URL,
CHATWOOT_URL and SLACK_WEBHOOK_URL (`<url>/slack/hook`). `--config` takes initial settings as JSON,
e.g. '{"claude": {"latencia": {"mediana_ms": 2000, "p99_ms": 8000}, "rpm": 4000}}'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path

import uvicorn

from julia.testing.app import make_app
from julia.testing.state import State

PREFIX = "julia-falsos"
BACKLOG = 4096  # a 10,000-doctor storm connects in bursts


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening (early callers wait in the backlog until uvicorn runs).
    TCP_NODELAY is set on it, and the connections it accepts inherit it: uvicorn serving a socket it was
    given leaves Nagle's algorithm on, and it writes a response's head and body separately, so the body
    waited for the caller's delayed ACK, 40 ms on Linux, on a kept-alive connection (GET /_controle: p50
    42.7 ms without it, 2.0 ms with it): most of julia's time-to-reply tail with the fakes at 0 ms."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m julia.testing.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--url-file", type=Path, help="also write the URL here")
    parser.add_argument("--config", default="{}", help="initial settings per service, JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latency draws")
    args = parser.parse_args(argv)

    estado = State()
    for servico, campos in json.loads(args.config).items():
        estado.configure(servico, campos)
    sock = listen(args.host, args.port)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    if args.url_file:
        args.url_file.write_text(url + "\n")
    print(f"{PREFIX} {url}", flush=True)
    config = uvicorn.Config(
        make_app(estado, semente=args.seed), log_level="warning", access_log=False, backlog=BACKLOG
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
