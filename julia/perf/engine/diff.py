"""Head against base, piece by piece, from the evidence both sides recorded in the same run: the statements
each unit of work sent (julia.perf.engine.counting's `pg_by_statement`), the Redis commands by name
(`redis_by_command`) and the EXPLAIN tree of a critical query (julia.perf.engine.explain's `plan_tree`).

Only what moved beyond the counters' own wobble is a change: statements are counted over a few dozen units
on servers that may see a stranger's statement now and then, so a statement a unit runs a quarter of the
time or less on one side only, or a row or block count within a fifth of the other side's, is left out.
Statements are matched by pg_stat_statements' normalized text, never by queryid: the queryid hashes table
oids, which differ between the two sides' databases.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Literal

MIN_CALLS = 0.25  # per unit: a statement run less often than this on one side only is noise, not a change
MIN_RELATIVE = 0.2  # rows, blocks (per unit or per plan): a change within this share of the base's is noise
MIN_ABSOLUTE = 1.0  # ... and so is one under this many rows or blocks
FIGURES = ("calls", "rows", "blocks")
Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Statement:
    """One statement that moved: its normalized text, julia's name for it when it has one (`source`,
    e.g. julia/sql/vagas.sql:buscar_vagas), and its calls, rows and shared blocks per unit on each side."""

    change: Change
    query: str
    source: str | None
    head: dict[str, float] | None
    base: dict[str, float] | None
    moved: tuple[str, ...]  # which of FIGURES moved ("calls" for an added or removed one)
    query_id: int | None = None  # the head's queryid (the base's for a removed one): to link a plan

    def delta(self, figure: str) -> float:
        return (self.head or {}).get(figure, 0.0) - (self.base or {}).get(figure, 0.0)


@dataclass(frozen=True)
class Command:
    """A Redis command whose calls per unit moved."""

    change: Change
    name: str
    head: int
    base: int


def statements(head: dict[str, Any], base: dict[str, Any]) -> list[Statement] | None:
    """What moved in the statements per unit, added and removed first; None when a side recorded none."""
    now, then = head.get("pg_by_statement"), base.get("pg_by_statement")
    if now is None or then is None:
        return None
    # julia's name for a statement pairs the sides when each names exactly one row so: a query rewritten
    # between base and head (julia/sql/vagas.sql:buscar_vagas on 2026-12-07) is one statement whose
    # figures moved or not, not one added and one removed. Anything else pairs by its normalized text.
    shared = _unique_sources(now) & _unique_sources(then)
    ours, theirs = _keyed(now, shared), _keyed(then, shared)
    found: list[Statement] = []
    for key in [*ours, *(k for k in theirs if k not in ours)]:
        a, b = _figures(ours.get(key)), _figures(theirs.get(key))
        row = ours.get(key) or theirs[key]
        query, source = row["query"], row.get("source")
        if b is None and a is not None and a["calls"] >= MIN_CALLS:
            found.append(Statement("added", query, source, a, None, ("calls",), row.get("query_id")))
        elif a is None and b is not None and b["calls"] >= MIN_CALLS:
            found.append(Statement("removed", query, source, None, b, ("calls",), row.get("query_id")))
        elif a is not None and b is not None:
            moved = tuple(f for f in FIGURES if _moved(f, a[f], b[f]))
            if moved:
                found.append(Statement("changed", query, source, a, b, moved, row.get("query_id")))
    order = {"added": 0, "removed": 1, "changed": 2}
    return sorted(found, key=lambda s: (order[s.change], -abs(s.delta("calls")), -abs(s.delta("blocks"))))


def _unique_sources(rows: list[dict[str, Any]]) -> set[str]:
    named = Counter(row["source"] for row in rows if row.get("source"))
    return {source for source, n in named.items() if n == 1}


def _keyed(rows: list[dict[str, Any]], shared: set[str]) -> dict[str, dict[str, Any]]:
    return {(row["source"] if row.get("source") in shared else row["query"]): row for row in rows}


def _figures(row: dict[str, Any] | None) -> dict[str, float] | None:
    return None if row is None else {f: float(row.get(f) or 0.0) for f in FIGURES}


def _moved(figure: str, now: float, before: float) -> bool:
    if figure == "calls":
        return abs(now - before) >= MIN_CALLS
    return significant(now, before)


def significant(now: float, before: float) -> bool:
    """A row or block count that moved by MIN_ABSOLUTE or more and by more than MIN_RELATIVE of the
    larger side (so 0 -> 5 moved, 100 -> 110 did not)."""
    gap = abs(now - before)
    return gap >= MIN_ABSOLUTE and gap > MIN_RELATIVE * max(abs(before), abs(now))


def commands(head: dict[str, Any], base: dict[str, Any]) -> list[Command] | None:
    """Redis commands per unit that appeared, went or changed count; None when a side counted none."""
    now, then = head.get("redis_by_command"), base.get("redis_by_command")
    if now is None or then is None:
        return None
    found = []
    for name in sorted({*now, *then}):
        a, b = int(now.get(name, 0)), int(then.get(name, 0))
        if a != b:
            change: Change = "added" if b == 0 else "removed" if a == 0 else "changed"
            found.append(Command(change, name, a, b))
    return found


@dataclass(frozen=True)
class PlanRow:
    head: dict[str, Any] | None
    base: dict[str, Any] | None
    differs: bool  # its shape (node, relation, index, depth) or its figures moved
    first: bool  # the first node that differs


@dataclass(frozen=True)
class PlanDiff:
    rows: list[PlanRow]
    shape_changed: bool
    buffers: tuple[int, int]  # the top node's shared blocks: head, base

    @property
    def first(self) -> PlanRow | None:
        return next((row for row in self.rows if row.first), None)


SHAPE = ("depth", "node", "relation", "index")


def plan(head: dict[str, Any], base: dict[str, Any]) -> PlanDiff | None:
    """The two EXPLAIN trees node by node (depth first), when the plan's shape, its buffers or where a
    sort ran (memory, disk) moved; None when none did or a side recorded no tree. The first differing
    node is marked: the first whose shape differs, else the first whose own rows, loops, blocks or sort
    moved."""
    now, then = head.get("plan_tree"), base.get("plan_tree")
    if not now or not then:
        return None
    shape = [_shape(a) != _shape(b) for a, b in zip_longest(now, then)]
    own = zip_longest(own_blocks(now), own_blocks(then))
    figures = [
        a is not None and b is not None and _figures_moved(a, b, mine, theirs)
        for (a, b), (mine, theirs) in zip(zip_longest(now, then), own, strict=True)
    ]
    buffers = (blocks(now[0]), blocks(then[0]))
    # The tree is the first key's, whose blocks a writing query's earlier rolled-back calls move (the dead
    # row versions they leave): iniciar_envio's read 18 on one side and 23 on the other in 4 of 13 A/A runs
    # while its worst key's, `buffers` (what the budget reads), was 23 on both. Same shape, the blocks
    # moved only when the worst key's moved too.
    worst_now, worst_then = head.get("buffers"), base.get("buffers")
    grew = significant(*buffers) and (
        worst_now is None or worst_then is None or significant(worst_now, worst_then)
    )
    spilled = [n.get("sort_space") for n in now] != [n.get("sort_space") for n in then]
    if not any(shape) and not grew and not spilled:
        return None
    marks = shape if any(shape) else figures
    first = marks.index(True) if any(marks) else None
    rows = [
        PlanRow(a, b, shape[i] or figures[i], i == first) for i, (a, b) in enumerate(zip_longest(now, then))
    ]
    return PlanDiff(rows, any(shape), buffers)


def generic(counters: dict[str, Any]) -> dict[str, Any]:
    """The generic plan's counters (julia.perf.engine.explain, `generic=True`) in the shape `plan` reads;
    empty for a benchmark, or a base, that recorded none."""
    return counters.get("generic") or {}


def ran_generic(counters: dict[str, Any]) -> bool:
    """Most of the timed calls ran the generic plan (pg_prepared_statements' counts on their connection)."""
    ran = counters.get("plans_run") or {}
    return int(ran.get("generic", 0)) > int(ran.get("custom", 0))


def _shape(node: dict[str, Any] | None) -> tuple[Any, ...] | None:
    return None if node is None else tuple(node.get(key) for key in SHAPE)


def blocks(node: dict[str, Any]) -> int:
    return int(node.get("shared_hit", 0)) + int(node.get("shared_read", 0))


def own_blocks(tree: list[dict[str, Any]]) -> list[int]:
    """Each node's shared blocks less its children's: EXPLAIN counts a child's blocks in its parent's
    too, so only a node's own share says where blocks were added."""
    own = []
    for i, node in enumerate(tree):
        depth = node.get("depth", 0)
        children = 0
        for later in tree[i + 1 :]:
            if later.get("depth", 0) <= depth:
                break
            if later.get("depth", 0) == depth + 1:
                children += blocks(later)
        own.append(blocks(node) - children)
    return own


def _figures_moved(now: dict[str, Any], before: dict[str, Any], mine: int | None, theirs: int | None) -> bool:
    """A node of the same shape whose sort spilled on one side only, or whose own blocks, actual rows or
    loops moved."""
    if now.get("sort_space") != before.get("sort_space"):
        return True
    pairs = [(mine or 0, theirs or 0), *((now.get(k, 0), before.get(k, 0)) for k in ("rows_actual", "loops"))]
    return any(significant(float(a), float(b)) for a, b in pairs)


def describe(node: dict[str, Any] | None) -> str:
    """A node as EXPLAIN's text format names it: "Index Scan using idx_x on t", "Sort (Disk)"."""
    if node is None:
        return "(no node)"
    text = str(node.get("node", "?"))
    if node.get("index"):
        text += f" using {node['index']}"
    if node.get("relation"):
        text += f" on {node['relation']}"
    if node.get("sort_space") == "Disk":
        text += " (spilled to disk)"
    return text


def brief(query: str, width: int = 90) -> str:
    """A statement on one line: comments out, whitespace collapsed, cut to `width` characters."""
    lines = [line.split("--", 1)[0] for line in query.splitlines()]
    text = " ".join(" ".join(lines).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def per_unit(value: float) -> str:
    """A per-unit figure as a reader writes it: 1, 0.5, 2.33."""
    if not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if value == round(value) else f"{value:.3g}"
