"""The `curl` lines of the docs, run for real over httpx: the options on-call uses (-f -s -S -X -H -d)
and one pipe, `| python3 -m json.tool`. Any other option or pipe fails the test, so the docs cannot
grow a command this runner would silently misread."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

_VAR = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def expand(line: str, env: Mapping[str, str]) -> str:
    """$VAR and ${VAR} from `env`; an unknown variable fails (the docs must only use known ones)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in env:
            raise AssertionError(f"the docs use ${name}, which the docs test does not define")
        return env[name]

    return _VAR.sub(value, line)


@dataclass
class Curl:
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    data: str | None = None
    fail: bool = False  # -f: an HTTP error is a failure
    pipe: list[str] = field(default_factory=list)


def parse(line: str, env: Mapping[str, str]) -> Curl:
    tokens = shlex.split(expand(line, env))
    assert tokens[0] == "curl", line
    pipe: list[str] = []
    if "|" in tokens:
        at = tokens.index("|")
        tokens, pipe = tokens[:at], tokens[at + 1 :]
        assert pipe == ["python3", "-m", "json.tool"], f"unsupported pipe in {line!r}"
    url: str | None = None
    curl = Curl(url="")
    it = iter(tokens[1:])
    for token in it:
        if token == "-X":
            curl.method = next(it)
        elif token == "-H":
            name, _, value = next(it).partition(":")
            curl.headers[name.strip()] = value.strip()
        elif token == "-d":
            curl.data = next(it)
        elif re.fullmatch(r"-[fsS]+", token):
            curl.fail = curl.fail or "f" in token
        elif token.startswith("-"):
            raise AssertionError(f"curl option {token} is not supported by the docs test: {line!r}")
        else:
            assert url is None, f"two URLs in {line!r}"
            url = token
    assert url, f"no URL in {line!r}"
    curl.url = url
    if curl.data is not None and curl.method == "GET":
        curl.method = "POST"  # as curl does for -d
    curl.pipe = pipe
    return curl


async def run(curl: Curl, client: httpx.AsyncClient) -> httpx.Response:
    response = await client.request(
        curl.method, curl.url, headers=curl.headers, content=curl.data.encode() if curl.data else None
    )
    if curl.fail:
        assert response.status_code < 400, f"{curl.method} {curl.url}: {response.status_code} {response.text}"
    if curl.pipe:
        json.loads(response.content)  # json.tool would fail on anything else
    return response
