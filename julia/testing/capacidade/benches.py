"""The capacity storm as benchmarks of the perf engine: one results schema (results.json), one gate
(`julia perf gate`, against perf/budgets.toml) and one report (its load runs section).

`python -m julia.testing.capacidade --gate` adds three benchmarks to the run's results, in group
"capacity":
- capacity_storm: every answered message's time-to-reply (ms); its deterministic counts (messages not
  stored, unanswered, answered twice, refused, sent to a doctor who opted out: budget 0 each); and its
  time-to-reply p99 above the p99 of the Claude latencies this run drew (`p99_over_claude_ms`, a limit:
  portao says why the run's own draw is the yardstick). Its line and likely cause (portao.causa) are what
  it `said`, shown beside its verdict; the whole storm result rides along (`storm`) for its own page.
- capacity_storm_cpu: julia's CPU per reply (ms), one sample per window of replies, against
- capacity_floor_cpu: the floor probe's at the same rate and latencies (julia.testing.capacidade.piso),
  so the ratio to the floor is the engine's ratio_p50, with its budget.
The storm runs the head alone (no same-run base): `timing = false`, the budgets judge it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from pathlib import Path
from typing import Any

from julia.perf.context import CHECKOUT, PROJECT
from julia.perf.engine import results
from julia.perf.engine.results import Bench, Run
from julia.testing.capacidade import portao

GROUP = "capacity"
STORM = "capacity_storm"
CPU = "capacity_storm_cpu"
FLOOR = "capacity_floor_cpu"
# The storm's counts the gate holds at 0, by the engine's name and the storm result's key.
COUNTS = {
    "not_stored": "nao_gravadas",
    "unanswered": "sem_resposta",
    "answered_twice": "duplicadas",
    "refused": "recusadas",
    "sent_to_opted_out": "a_quem_saiu",
}
# Replies per window of julia's CPU per reply: about 5 windows in the gate's 300-message storm, each long
# enough (several seconds) that a sample's CPU is not one scheduler tick.
REPLIES_PER_WINDOW = 60
JULIA = ("serve", "worker")  # the prefixes of julia's processes in the storm's samples (serve, worker0...)


def benches(r: dict[str, Any], line: str) -> list[Bench]:
    """The storm result `r` (carga.rodar, with its floor under "piso" when measured) as benchmarks;
    `line`: its one-line summary (__main__.linha)."""
    counts = {name: int(r[key]) for name, key in COUNTS.items()}
    over_claude_ms = 1000 * (r["tempo_resposta_s"]["p99"] - r["claude_latencia_s"]["p99"])
    storm = Bench(
        STORM,
        GROUP,
        None,
        [round(1000 * s, 1) for s in r["tempo_resposta_amostras_s"]],
        {
            **counts,
            "messages": r["mensagens"],
            "answered": r["respondidas"],
            "p99_over_claude_ms": round(over_claude_ms),
            "claude_p99_ms": round(1000 * r["claude_latencia_s"]["p99"]),
            "said": [line, f"likely cause: {portao.causa(r)}"],
            "storm": {k: v for k, v in r.items() if k != "tempo_resposta_amostras_s"},
        },
    )
    windows = cpu_per_reply_windows(r)
    cpu = Bench(
        CPU,
        GROUP,
        FLOOR if "piso" in r else None,
        windows or [r["cpu_ms_por_resposta"]["julia"]],
        {
            "cpu_ms_per_reply": r["cpu_ms_por_resposta"]["julia"],
            "windows": len(windows),
            "replies_per_window": REPLIES_PER_WINDOW,
        },
    )
    found = [storm, cpu]
    if "piso" in r:
        floor = r["piso"]["cpu_ms_por_resposta"]
        found.append(Bench(FLOOR, GROUP, None, [floor["total"]], {"cpu_ms_per_reply": floor}))
    return found


def cpu_per_reply_windows(r: dict[str, Any]) -> list[float]:
    """julia's CPU per reply (ms) over consecutive windows of about REPLIES_PER_WINDOW replies, from the
    storm's samples (each: the CPU % of every process since the previous one, the replies so far): the
    spread of the whole run's figure. Empty when the samples cannot say (too few replies)."""
    out: list[float] = []
    cpu_ms = 0.0
    since_t, since_replies = 0.0, 0
    for sample in r.get("amostras", []):
        t = float(sample["t"])
        busy = sum(pct for name, pct in sample["cpu_pct"].items() if name.startswith(JULIA))
        cpu_ms += busy / 100 * (t - since_t) * 1000
        since_t = t
        replies = int(sample["respondidas"]) - since_replies
        if replies >= REPLIES_PER_WINDOW:
            out.append(round(cpu_ms / replies, 2))
            cpu_ms, since_replies = 0.0, int(sample["respondidas"])
    return out


def record(path: Path, found: list[Bench], stamp: dict[str, Any]) -> Run:
    """`found` into the results at `path` (the A/B run's, when `julia perf run` wrote them first; else a
    run of the storm alone with `stamp`), replacing any capacity benchmarks an earlier storm left."""
    run = Run.load(path) if path.is_file() else Run(stamp)
    for name in [n for n, b in run.benches.items() if b.group == GROUP]:
        del run.benches[name]
    for bench in found:
        run.add(bench)
    run.save(path)
    return run


def stamp(pg_major: int, pg_version: str, doctors: int, origin: str, topology: str) -> dict[str, Any]:
    """A results stamp for a storm recorded with no A/B run before it (the storm's doctors as the scale)."""
    return results.stamp(
        root=CHECKOUT,
        project=PROJECT,
        version=importlib.metadata.version(PROJECT.name),
        pg_major=pg_major,
        pg_version=pg_version,
        scale=doctors,
        origin=origin,
        injected=None,
        seed_summary={"today": dt.date.today().isoformat()},
        topology=topology,
    )
