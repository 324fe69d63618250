"""Phases of a seed: each timed, each with its own tqdm bar on stderr when asked for."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
TICK = 10_000  # rows between bar updates: often enough to watch, rare enough to cost nothing


class Phases:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "rows") -> Iterator[tqdm[Any]]:
        """A timed phase. Without a total (one SQL statement) the bar is a single step, done at the end."""
        started = time.perf_counter()
        steps = total if total is not None else 1
        with tqdm(
            total=steps,
            desc=f"{name:>15}",
            unit=unit if total is not None else "step",
            unit_scale=total is not None,
            file=sys.stderr,
            disable=not self.enabled,
            dynamic_ncols=True,
        ) as bar:
            yield bar
            if total is None:
                bar.update(1)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def ticking(rows: Iterable[T], bar: tqdm[Any]) -> Iterator[T]:
    """Pass `rows` through, advancing `bar` as they are consumed (by COPY, which pulls as it sends)."""
    count = 0
    for count, row in enumerate(rows, 1):
        yield row
        if count % TICK == 0:
            bar.update(TICK)
    bar.update(count % TICK)
