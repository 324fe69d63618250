"""The profile that explains a verdict (julia.perf.engine.profile): CPU per function per unit, on the CPU
clock, and the bar a function must clear before it is named."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from julia.perf.engine import profile

ROOT = Path(__file__).resolve().parents[2]


def _hot(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


async def _unit(i: int) -> None:
    _hot(3000)
    await asyncio.sleep(0.0005)


async def _unit_with_more_work(i: int) -> None:
    _hot(3000)
    _hot(3000)
    await asyncio.sleep(0.0005)


async def test_the_cpu_clock_charges_work_not_waiting() -> None:
    found = await profile.profile(
        _unit, start=0, unit_ms=1.0, root=ROOT, sources=("julia/", "perf/", "tests/")
    )
    functions = found["functions"]
    hot = "tests/unit/test_perf_profile.py:_hot"
    assert found["chunks"] == profile.CHUNKS
    assert functions[hot]["calls"] == [1.0] * profile.CHUNKS
    busiest = max(functions, key=lambda k: sum(functions[k]["self_us"]))
    assert busiest == hot  # the 0.5 ms sleep is waiting: no CPU, so not charged to anyone
    assert functions[hot]["callers"] == {"tests/unit/test_perf_profile.py:_unit": 1.0}
    assert "asyncio/tasks.py:sleep" in functions  # named from the standard library, not a path


async def test_a_new_call_is_named_with_its_caller() -> None:
    base = await profile.profile(
        _unit, start=0, unit_ms=1.0, root=ROOT, sources=("julia/", "perf/", "tests/")
    )
    head = await profile.profile(
        _unit_with_more_work, start=0, unit_ms=1.0, root=ROOT, sources=("julia/", "perf/", "tests/")
    )
    calls = [c for c in profile.compare(head, base) if c.kind == "calls"]
    hot = next(c for c in calls if c.function == "tests/unit/test_perf_profile.py:_hot")
    assert (hot.base, hot.head) == (1.0, 2.0)
    assert hot.caller == "tests/unit/test_perf_profile.py:_unit_with_more_work"
    assert hot.line().startswith(
        "+1 calls/resumptions per unit of tests/unit/test_perf_profile.py:_hot (called from"
    )


def _profile(functions: dict[str, list[float]], cpu: list[float], calls: float = 1.0) -> dict[str, Any]:
    return {
        "units": 10,
        "chunks": len(cpu),
        "cpu_us": cpu,
        "functions": {
            key: {"calls": [calls] * len(cpu), "self_us": self_us, "total_us": self_us, "callers": {}}
            for key, self_us in functions.items()
        },
    }


CPU = [100.0, 104.0, 98.0, 101.0, 99.0, 103.0, 102.0, 97.0]


def test_overlapping_chunks_say_nothing() -> None:
    base = _profile({"julia/a.py:f": [40.0, 42, 39, 41, 40, 43, 38, 40]}, CPU)
    head = _profile({"julia/a.py:f": [41.0, 44, 40, 39, 42, 41, 40, 43]}, CPU)
    assert profile.compare(head, base) == []


def test_a_separated_material_gain_is_named_first() -> None:
    base = _profile({"julia/a.py:f": [40.0, 42, 39, 41, 40, 43, 38, 40], "julia/b.py:g": [10.0] * 8}, CPU)
    grown = [c + 20 for c in CPU]
    head = _profile({"julia/a.py:f": [60.0, 62, 59, 61, 60, 63, 58, 61], "julia/b.py:g": [10.0] * 8}, grown)
    [change] = profile.compare(head, base)
    assert (change.function, change.kind) == ("julia/a.py:f", "cpu")
    assert change.delta == 20.5
    assert (change.low, change.high) == (58 - 43, 63 - 38)
    assert change.line().startswith("+20.5 us CPU per unit in julia/a.py:f (self time, 40.0 us -> 60.5 us")


def test_a_separated_but_immaterial_change_is_not_named() -> None:
    base = _profile({"julia/a.py:f": [1.0] * 8}, CPU)
    head = _profile({"julia/a.py:f": [2.0] * 8}, CPU)  # +1 us of a 100 us unit: below MATERIAL and MIN_US
    assert profile.compare(head, base) == []


def test_a_uniformly_slower_machine_moves_no_share() -> None:
    """Both sides' functions slowed alike (a busier moment for one side): the shares stay, nothing named."""
    base = _profile({"julia/a.py:f": [50.0] * 8, "julia/b.py:g": [50.0] * 8}, [100.0] * 8)
    head = _profile({"julia/a.py:f": [60.0] * 8, "julia/b.py:g": [60.0] * 8}, [120.0] * 8)
    assert profile.compare(head, base) == []


def test_names_are_the_same_from_either_side() -> None:
    """Head and base live in different folders, each with its virtualenv inside (.nox/): a function is
    named by where it lives in the checkout, in site-packages or in the standard library."""
    import sysconfig
    from types import SimpleNamespace

    name = profile._namer(Path("/srv/side"))

    def code(filename: str, qualname: str) -> SimpleNamespace:
        return SimpleNamespace(co_filename=filename, co_qualname=qualname)

    venv = "/srv/side/.nox/perf/lib/python3.11/site-packages/asyncpg/connection.py"
    assert name(code(venv, "Connection.fetch")) == "asyncpg/connection.py:Connection.fetch"
    assert name(code("/srv/side/julia/cache/store.py", "Store.get")) == "julia/cache/store.py:Store.get"
    stdlib = sysconfig.get_paths()["stdlib"] + "/asyncio/tasks.py"
    assert name(code(stdlib, "sleep")) == "asyncio/tasks.py:sleep"
    assert name("<built-in method time.sleep>") == "<built-in method time.sleep>"


def test_the_report_table_shows_the_busiest_and_the_named_and_draws_them() -> None:
    import xml.etree.ElementTree as ET

    busy = {f"julia/m.py:f{n}": [float(50 - n)] * 8 for n in range(20)}
    base = _profile({**busy, "julia/a.py:grown": [1.0] * 8}, CPU)
    head = _profile({**busy, "julia/a.py:grown": [40.0, 41, 42, 43, 44, 45, 46, 47]}, [c + 40 for c in CPU])
    table = profile.rows(head, base, top=5)
    assert table[0].function == "julia/a.py:grown"
    assert table[0].named
    assert {r.function for r in table[1:]} == {f"julia/m.py:f{n}" for n in range(5)}
    drawn = ET.fromstring(profile.svg(table))  # noqa: S314 (our own output)
    assert len(drawn.findall("{http://www.w3.org/2000/svg}rect")) == len(table)


FILLER = "asyncio/m.py:filler"


def _crowded(
    extra: str | None, self_us: float, calls: float, others: dict[str, float] | None
) -> dict[str, Any]:
    """A side that kept only its KEEP busiest library functions (5-6 us a unit each, as in a cache read):
    `extra` (`self_us`, `calls`) or else FILLER among them; the calls of the rest in `others`, FILLER's
    (1 a unit) included when `extra` took its place (None: a profile recorded before `others`)."""
    busy = {f"asyncio/m.py:f{n}": [5.0 + n / profile.KEEP] * 8 for n in range(profile.KEEP - 1)}
    side = _profile({**busy, (extra or FILLER): [self_us if extra else 5.0] * 8}, CPU)
    if extra:
        side["functions"][extra]["calls"] = [calls] * 8
    side["sources"] = ["julia/", "perf/"]
    if others is not None:
        side["others"] = {
            key: [n] * 8 for key, n in ({FILLER: 1.0} if extra else {}).items() | others.items()
        }
    return side


def test_a_library_function_one_side_did_not_keep_is_not_said_to_have_stopped() -> None:
    """Seen in a cache read whose code did not change: `time.monotonic` among one side's 80 busiest and
    not the other's read as "+3 calls per call"; its calls are the other side's `others`, or unknown."""
    tick = "<built-in method time.monotonic>"
    head = _crowded(tick, 5.5, 3.0, {})
    assert profile.compare(head, _crowded(None, 0, 0, {tick: 3.0})) == []
    assert profile.compare(head, _crowded(None, 0, 0, None)) == []  # a base recorded before `others`
    [change] = profile.compare(head, _crowded(None, 0, 0, {tick: 1.0}))
    assert (change.kind, change.base, change.head) == ("calls", 1.0, 3.0)
    # The base saw no such function: it never ran there, its calls and CPU were none.
    cpu, calls = profile.compare(head, _crowded(None, 0, 0, {}))
    assert (cpu.kind, cpu.base, cpu.unseen, calls.base, calls.head) == ("cpu", 0.0, None, 0.0, 3.0)


def test_cpu_gained_in_a_function_the_base_did_not_keep_is_measured_from_the_base_s_cut() -> None:
    digest = "<built-in method _hashlib.openssl_sha256>"
    head = _crowded(digest, 60.0, 1.0, {})
    head["functions"][digest]["callers"] = {"julia/worker/dialogue.py:converse": 1.0}
    [cpu] = [c for c in profile.compare(head, _crowded(None, 0, 0, {digest: 1.0})) if c.kind == "cpu"]
    assert (cpu.function, cpu.unseen, cpu.caller) == (digest, "base", "julia/worker/dialogue.py:converse")
    assert cpu.base == 5.0  # the base's cut: the least CPU of a library function it kept
    assert cpu.line().startswith(
        f"+at least 55.0 us CPU per unit in {digest} (called from julia/worker/dialogue.py:converse) "
        "(self time, <= 5.0 us -> 60.0 us;"
    )


def test_every_function_not_kept_keeps_its_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "KEEP", 1)
    chunk: tuple[profile.Stats, profile.Edges] = (
        {"a.py:f": (20, 9e-6, 9e-6), "b.py:g": (10, 1e-6, 1e-6)},
        {},
    )
    found = profile.compact([chunk] * 8, 10, ("julia/",))
    assert set(found["functions"]) == {"a.py:f"}
    assert found["others"] == {"b.py:g": [1.0] * 8}


def test_a_count_that_wanders_from_chunk_to_chunk_is_not_a_calls_change() -> None:
    """An A/A cache miss: asyncio's Future.set_result 6.44-6.94 calls per call on one side and 5.00-5.28 on
    the other (the futures its reads happened to wait on); a call the code makes is alike in every chunk."""
    done = "<method 'set_result' of '_asyncio.Future' objects>"

    def side(calls: list[float]) -> dict[str, Any]:
        return {
            "units": 20,
            "chunks": 8,
            "cpu_us": [100.0] * 8,
            "functions": {done: {"calls": calls, "self_us": [1.0] * 8, "callers": {}}},
        }

    base = side([6.67, 6.44, 6.78, 6.5, 6.56, 6.72, 6.67, 6.94])
    assert profile.compare(side([5.11, 5.06, 5.28, 5.22, 5.0, 5.11, 5.17, 5.17]), base) == []
    [change] = profile.compare(side([5.0] * 8), side([6.0] * 8))
    assert (change.kind, change.base, change.head) == ("calls", 6.0, 5.0)


def test_the_call_into_new_work_comes_before_the_calls_it_makes() -> None:
    """A helper added after a cache read: one call to it from the read, 41 to its generator expression,
    40 to json.dumps. The one call says where the work was added; the others follow from it."""
    read, helper = "julia/cache/context.py:static_context", "julia/cache/context.py:_fingerprint"
    genexpr, dumps = f"{helper}.<locals>.<genexpr>", "json/__init__.py:dumps"
    base = _profile({read: [20.0] * 8}, CPU)
    head = _profile({read: [20.0] * 8, helper: [1.0] * 8, genexpr: [2.0] * 8, dumps: [3.0] * 8}, CPU)
    for key, (n, caller) in {
        helper: (1.0, read),
        genexpr: (41.0, helper),
        dumps: (40.0, genexpr),
    }.items():
        head["functions"][key] |= {"calls": [n] * 8, "callers": {caller: n}}
    changes = [c for c in profile.compare(head, base) if c.kind == "calls"]
    assert [(c.function, c.caller) for c in changes] == [(helper, read), (genexpr, helper), (dumps, genexpr)]


def test_material_is_measured_against_the_unit_s_cpu_without_the_profiler() -> None:
    """A loop added to the reply (measured: 49 -> 400-600 us of self CPU in dynamic_context, a message's
    profiled CPU 20.7 ms, its time 1.09x): 2% of the profiled CPU, but about 7% of what the message costs
    unprofiled, where the profiler's cost per call is not paid."""
    message = [20_700.0 + k for k in range(8)]
    rest = [20_650.0] * 8
    reply = "julia/worker/reply.py:dynamic_context"
    base = _profile({reply: [49.0 + k / 10 for k in range(8)], "x.py:r": rest}, message)
    head = _profile({reply: [495.0 + k for k in range(8)], "x.py:r": rest}, [m + 450 for m in message])
    [change] = profile.compare(head, base)
    assert (change.function, change.kind) == (reply, "cpu")


async def test_a_coroutine_s_resumptions_on_both_sides_are_not_a_calls_change() -> None:
    """Seen on a cache hit no patch touched: its read resumed twice per unit on one side and once on the
    other (how often the reply was not yet there). A coroutine that runs on one side only still is one."""
    found = await profile.profile(_unit, start=0, unit_ms=1.0, root=ROOT, sources=("tests/",))
    assert "tests/unit/test_perf_profile.py:_unit" in found["resumable"]
    assert "tests/unit/test_perf_profile.py:_hot" not in found["resumable"]
    read = "julia/cache/store.py:Cache.read"
    base = _profile({read: [10.0] * 8}, CPU, calls=3.0) | {"resumable": [read]}
    head = _profile({read: [10.0] * 8}, CPU, calls=2.0) | {"resumable": [read]}
    assert profile.compare(head, base) == []
    sleep, wait = "asyncio/tasks.py:sleep", "asyncio/streams.py:StreamReader._wait_for_data"
    sleeps = _profile({read: [10.0] * 8, sleep: [1.0] * 8, wait: [1.0] * 8}, CPU, calls=2.0)
    sleeps["functions"][sleep]["callers"] = {"julia/perf/context.py:Perf.injected_sleep": 2.0}
    sleeps["functions"][wait]["callers"] = {"asyncio/streams.py:StreamReader.read": 2.0}
    sleeps |= {"resumable": [read, sleep, wait], "sources": ["julia/", "perf/"]}
    # The sleep julia's code makes on one side only is named; the library waiting for its data is not.
    [new] = profile.compare(sleeps, head)
    assert (new.function, new.base, new.head) == (sleep, 0.0, 2.0)
