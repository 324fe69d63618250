"""Every capacity run as benchmarks of the perf engine: one results schema (results.json), one gate
(julia.perf.engine.gate, against perf/budgets.toml) and one report (its load runs and memory sections).

Each storm is five benchmarks in group "capacity" (`Names`):
- the storm: every answered message's time-to-reply (ms; with no worker, every webhook's latency); its
  deterministic counts (messages not stored, unanswered, answered twice, refused, sent to a doctor who
  opted out: budget 0 each); its time-to-reply p99 (`time_to_reply_p99_ms`) and that p99 above the p99
  of the Claude latencies this run drew (`p99_over_claude_ms`: gate says why the run's own draw is the
  yardstick); each process's memory and garbage-collector pauses (`processes`, `servers_mib`, shown in the
  report's memory table) and, in a soak, the fastest-growing julia process's USS growth
  (`fastest_uss_growth_kib_per_1000`, which its budget limits); the run over time (`over_time`, drawn in
  the report's load runs section); its line and likely cause (gate.cause) as what it `said`, the cause
  also as `cause` (on its CPU and memory benchmarks too: the perf engine's cause line); the whole
  storm result (`storm`, its keys as published in the capacity JSON before these benchmarks).
- its CPU: julia's CPU per reply (ms), one sample per window of replies, against
- its floor: the floor probe's at the same rate and latencies (julia.testing.capacity.floor), so the
  ratio to the floor is the engine's ratio_p50, with its budget;
- its memory: julia's memory held per reply in flight (KiB; julia.perf.engine.memory.held_per_unit), one
  sample per second of the storm's plateau, against
- its floor's memory: the floor probe's, read the same way in the same run, the ratio again ratio_p50.

`python -m julia.testing.capacity --gate` adds them, as capacity_storm, capacity_storm_cpu,
capacity_floor_cpu, capacity_storm_memory_kib and capacity_floor_memory_kib, to the perf run's results,
and `julia perf gate` judges them with the rest. The matrix and the soak write results of their own
(`capacity_<scenario>`, `capacity_soak`) and judge them with the same gate against the budgets `budgets`
derives from the same entries. The storm runs the head alone (no same-run base): `timing = false`, the
budgets judge it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import math
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from julia.perf.context import CHECKOUT, PROJECT
from julia.perf.engine import results
from julia.perf.engine.gate import Budget, Budgets
from julia.perf.engine.results import Bench, Run
from julia.testing.capacity import gate

GROUP = "capacity"
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
GROWTH = (
    "fastest_uss_growth_kib_per_1000"  # the soak's judged figure (perf/budgets.toml [load.capacity_soak])
)
P99 = "time_to_reply_p99_ms"  # what --budget-p99-s limits
OVER_CLAUDE = "p99_over_claude_ms"  # what --budget-over-claude-s limits (and the gate storm's budget)
# Only julia's servers' memory is shown beside the processes: Redis's data (used_memory) is not a process.
SERVERS = {"postgres": "PSS of its processes", "redis": "its own RSS"}


class Names(NamedTuple):
    storm: str
    cpu: str
    floor: str
    memory: str  # KiB, not ms, whatever the engine's columns say: the unit is in the name
    floor_memory: str


GATE = Names(
    "capacity_storm",
    "capacity_storm_cpu",
    "capacity_floor_cpu",
    "capacity_storm_memory_kib",
    "capacity_floor_memory_kib",
)
SOAK = Names(
    "capacity_soak",
    "capacity_soak_cpu",
    "capacity_soak_floor_cpu",
    "capacity_soak_memory_kib",
    "capacity_soak_floor_memory_kib",
)


def names_of(scenario_name: str) -> Names:
    """A matrix storm's benchmarks, named for its scenario (tempestade-1000med-60s-1w)."""
    stem = "capacity_" + scenario_name.replace("-", "_")
    return Names(stem, f"{stem}_cpu", f"{stem}_floor_cpu", f"{stem}_memory_kib", f"{stem}_floor_memory_kib")


def benches(r: dict[str, Any], line: str, names: Names = GATE, soak: bool = False) -> list[Bench]:
    """The storm result `r` (load.run_scenario, with its floor under "piso" when measured) as
    benchmarks; `line`: its one-line summary (__main__.summary_line); `soak`: record the growth its budget
    judges."""
    answered = bool(r["cenario"]["workers"])
    why = {"cause": gate.cause(r)} if answered else {}
    said = [line, f"likely cause: {why['cause']}"] if answered else [line]
    counters: dict[str, Any] = {
        **{name: int(r[key]) for name, key in COUNTS.items()},
        "messages": r["mensagens"],
        "answered": r["respondidas"],
        **memory(r),
        "over_time": over_time(r),
        "said": said,
        **why,
        "storm": {k: v for k, v in r.items() if k not in ("tempo_resposta_amostras_s", "webhook_samples_ms")},
    }
    if answered:
        counters[P99] = round(1000 * r["tempo_resposta_s"]["p99"])
        counters[OVER_CLAUDE] = round(1000 * (r["tempo_resposta_s"]["p99"] - r["claude_latencia_s"]["p99"]))
        counters["claude_p99_ms"] = round(1000 * r["claude_latencia_s"]["p99"])
    if soak:
        counters[GROWTH] = fastest_growth(r)
    samples = r["tempo_resposta_amostras_s"] if answered else r["webhook_samples_ms"]
    storm = Bench(
        names.storm, GROUP, None, [round(1000 * s, 1) if answered else s for s in samples], counters
    )
    windows = cpu_per_reply_windows(r)
    cpu = Bench(
        names.cpu,
        GROUP,
        names.floor if "piso" in r else None,
        windows or [r["cpu_ms_por_resposta"]["julia"]],
        {
            "cpu_ms_per_reply": r["cpu_ms_por_resposta"]["julia"],
            "windows": len(windows),
            "replies_per_window": REPLIES_PER_WINDOW,
            **why,
        },
    )
    found = [storm, cpu]
    if "piso" in r:
        floor = r["piso"]["cpu_ms_por_resposta"]
        found.append(Bench(names.floor, GROUP, None, [floor["total"]], {"cpu_ms_per_reply": floor}))
    return found + memory_per_reply(r, names, why)


def memory_per_reply(r: dict[str, Any], names: Names, why: dict[str, str]) -> list[Bench]:
    """julia's memory held per reply in flight (with the storm's cause, `why`) and, when the floor
    measured it, the floor's, each a sample per second of its storm's plateau (memory.held_per_unit): the
    engine's ratio to the floor is the ratio of their medians. Empty when the storm could not say (no
    worker, no reply in flight)."""
    held = r.get("memoria_por_resposta")
    if not held:
        return []
    floor = r.get("piso", {}).get("memoria_por_resposta")
    found = [
        Bench(
            names.memory,
            GROUP,
            names.floor_memory if floor else None,
            held["samples_kib"],
            {"kib_per_reply_in_flight": held, **why},
        )
    ]
    if floor:
        found.append(
            Bench(names.floor_memory, GROUP, None, floor["samples_kib"], {"kib_per_reply_in_flight": floor})
        )
    return found


def memory(r: dict[str, Any]) -> dict[str, Any]:
    """Each julia process's memory over the storm (julia.perf.engine.memory.profile) with its oldest
    generation's garbage-collector pauses, and the servers' memory beside them: the report's memory
    table reads these keys."""
    processes: dict[str, dict[str, Any]] = {
        name: dict(profile) for name, profile in r.get("memoria", {}).items() if profile.get("samples")
    }
    recorded = r.get("gc_pausas", [])
    for pauses in recorded:
        oldest = max((g for g in pauses if g.startswith("gen")), default=None)
        if oldest is None:
            continue
        name = (
            _sampled_as(pauses["process"], list(processes), recorded)
            or f"{pauses['process']} {pauses['pid']}"
        )
        g = pauses[oldest]
        processes.setdefault(name, {})["gc"] = {
            "generation": oldest,
            "n": g["n"],
            "p99_ms": g["p99_ms"],
            "max_ms": g["max_ms"],
        }
    servers = {
        name: {"first": v["primeira"], "peak": v["pico"], "what": SERVERS[name]}
        for name, v in r.get("memoria_servidores_mib", {}).items()
        if name in SERVERS
    }
    return {"processes": processes, "servers_mib": servers}


def _sampled_as(process: str, sampled: list[str], recorded: list[dict[str, Any]]) -> str | None:
    """The memory sample's name of the process whose pauses were recorded as `process` (the recorder says
    "worker", the samples "worker0"): the one sampled process of that kind when one process of it recorded
    pauses; None when several did (their pids are not in the samples)."""
    alike = [n for n in sampled if n == process or (n.startswith(process) and n[len(process) :].isdigit())]
    alone = sum(p["process"] == process for p in recorded) == 1
    return alike[0] if len(alike) == 1 and alone else None


def fastest_growth(r: dict[str, Any]) -> float | None:
    """The largest USS growth per 1,000 messages of julia's processes; None when one of them could not be
    measured (the gate then warns: a soak that cannot see growth has not shown there is none)."""
    growths = [p.get("uss_growth_kib_per_1000") for p in r.get("memoria", {}).values()]
    if not growths or any(g is None for g in growths):
        return None
    return max(float(g) for g in growths if g is not None)


def over_time(r: dict[str, Any]) -> dict[str, Any]:
    """The storm's samples as the report's panels (julia.perf.engine.over_time): arrivals and replies per
    second; messages open and Claude calls in flight; CPU and memory of each process."""
    samples = r.get("amostras", [])
    t = [s["t"] for s in samples]

    def per_second(counts: list[int]) -> list[list[float]]:
        return [[float(x) for x in range(len(counts))], [float(c) for c in counts]]

    def sampled(key: str) -> list[list[float]]:
        return [t, [s.get(key) or 0 for s in samples]]

    cpu = {p: [t, [s["cpu_pct"].get(p) or 0.0 for s in samples]] for p in samples[0]["cpu_pct"]} if t else {}
    mib = samples[-1].get("memoria_mib", {}) if t else {}
    memory_lines = {p: [t, [s.get("memoria_mib", {}).get(p, math.nan) for s in samples]] for p in mib}
    arrivals = {"webhooks accepted": per_second(r.get("aceitas_por_s", []))}
    if r.get("respostas_por_s"):
        arrivals["replies sent"] = per_second(r["respostas_por_s"])
    return {
        "x_label": "seconds from the first message",
        "panels": [
            {"y_label": "per second", "lines": arrivals, "steps": True},
            {
                "y_label": "messages",
                "lines": {
                    "inbound messages open": sampled("entradas_abertas"),
                    "Claude calls in flight": sampled("claude_em_voo"),
                    "replies due to send": sampled("fila_vencida"),
                },
            },
            {"y_label": "% of a core", "lines": cpu},
            {"y_label": "MiB (julia: USS)", "lines": memory_lines},
        ],
    }


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


def joined(path: Path, stamp: dict[str, Any]) -> Run:
    """The results at `path` (the A/B run's, when `julia perf run` wrote them first; else a run of the
    storm alone with `stamp`) without the capacity benchmarks an earlier storm left."""
    run = Run.load(path) if path.is_file() else Run(stamp)
    for name in [n for n, b in run.benches.items() if b.group == GROUP]:
        del run.benches[name]
    return run


def record(path: Path, run: Run, found: list[Bench]) -> Run:
    """`found` added to `run`, saved at `path` after each storm: a matrix cut short keeps what it ran."""
    for bench in found:
        run.add(bench)
    run.save(path)
    return run


@dataclasses.dataclass(frozen=True)
class Limits:
    """A run's own budgets beside perf/budgets.toml's (the command line's): each None when not given."""

    p99_s: float | None = None
    over_claude_s: float | None = None
    growth_kib: float | None = None  # the soak's; None: [load.capacity_soak]'s

    def of(self, path: Path, soak: bool) -> dict[str, float]:
        """The time-to-reply and growth limits of a storm: the command line's, and in a soak
        perf/budgets.toml's [load.capacity_soak] growth limit unless the command line gave one."""
        found = {}
        if self.p99_s is not None:
            found[P99] = 1000 * self.p99_s
        if self.over_claude_s is not None:
            found[OVER_CLAUDE] = 1000 * self.over_claude_s
        if soak:
            stored = tomllib.loads(path.read_text())["load"]["capacity_soak"]["limits"]
            found[GROWTH] = self.growth_kib if self.growth_kib is not None else float(stored[GROWTH])
        return found


def budgets(stored: Budgets, run: Run, runs: list[Names], limits: dict[str, float]) -> Budgets:
    """The budgets a matrix or soak `run` is judged by: each storm's (`runs`) the gate storm's
    (capacity_storm: the zero counts; its CPU's and memory's and their floors': the ratio to the floor),
    with the gate storm's time limit replaced by `limits` (the command line's, the soak's growth). A
    matrix explores sizes and worker counts beyond the gate's storm, whose 2 s above Claude is the epic's
    target at its rate: a matrix storm is held to a time only when the command line says so; a storm with
    no worker has no time-to-reply to hold."""
    found: dict[str, Budget] = {}
    for names in runs:
        storm = run.benches[names.storm]
        mine = {k: v for k, v in limits.items() if k in storm.counters or k == GROWTH}
        found[names.storm] = dataclasses.replace(
            stored.benches.get(GATE.storm, Budget(timing=False)), limits=tuple(mine.items())
        )
        for name, like in zip(names[1:], GATE[1:], strict=True):
            if name in run.benches:
                found[name] = stored.benches.get(like, Budget(timing=False))
    return dataclasses.replace(stored, benches=found)


def stamp(pg_major: int, pg_version: str, doctors: int, origin: str, topology: str) -> dict[str, Any]:
    """A results stamp for storms recorded with no A/B run before them (the storm's doctors as the scale)."""
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
