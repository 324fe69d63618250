"""`python -m julia.testing.capacity`: run capacity scenarios as benchmarks of the perf engine
(julia.testing.capacity.benches) and judge them with its gate against perf/budgets.toml: every message
accepted must be stored, answered once, never sent to a doctor who opted out; a time-to-reply p99 above
--budget-p99-s, or more than --budget-over-claude-s above the Claude latencies the run drew, fails too.

The matrix (`--doctors ... --workers ...`) and the soak (`--soak MINUTES`, which also fails on memory
growth) write the engine's results.json and its report (index.html: load runs, memory beside time) in
--out, and exit 1 when the gate fails them. `--gate` is the short storm of `nox -s perf`: its
benchmarks join the perf run's results and `julia perf gate` judges them with the rest; this command says
the same gate's verdict on them and exits 0 once they are recorded (non-zero only when the storm could not
run): that gate fails the run, no other."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import statistics
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

from julia import servers
from julia.perf.engine import config, report
from julia.perf.engine.gate import Verdict, failed, judge, load_budgets
from julia.perf.engine.results import Run
from julia.settings import Settings
from julia.testing.capacity import benches, floor, gate, processes, soak
from julia.testing.capacity.load import Scenario, fakes_config, run_scenario


def _environment(pairs: list[str]) -> dict[str, str]:
    output = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, not {pair!r}")
        output[key.upper()] = value
    return output


def summary_line(r: dict[str, Any]) -> str:
    if not r["cenario"]["workers"]:
        return _ingestion_line(r)
    t, cpu, peak = r["tempo_resposta_s"], r["cpu_ms_por_resposta"], r["pico"]
    campanha = r.get("campanha_enfileirada", 0)
    return (
        f"{r['cenario']['nome']}: {r['respondidas']}/{r['mensagens']} answered, "
        f"unanswered {r['sem_resposta']}, "
        f"twice {r['duplicadas']}; time-to-reply p50 {t['p50']:.2f} p90 {t['p90']:.2f} p99 {t['p99']:.2f} "
        f"max {t['max']:.2f} s (Claude p99 {r['claude_latencia_s']['p99']:.2f}); "
        f"webhook p99 {r['webhook_ms']['p99']:.0f} ms "
        f"(driver late p99 {r['atraso_envio_ms']['p99']:.0f} ms); "
        + _stages(r.get("etapas_ms", {}))
        + f"peak open {peak['entradas_abertas']} (oldest {peak['entrada_mais_antiga_s']:.0f} s), "
        f"Claude in flight {peak['claude_em_voo']}; "
        + (f"campaign {r['outras_enviadas']} of {campanha} sent meanwhile; " if campanha else "")
        + _tries(r.get("tentativas", {}))
        + f"julia CPU {cpu['julia']:.1f} ms/reply, postgres {cpu.get('postgres', float('nan')):.1f}, "
        f"fakes {cpu.get('fakes', float('nan')):.1f}, driver {cpu.get('driver', float('nan')):.1f}; "
        + against_floor(r)
        + memory_summary(r)
        + f"load {r['carga_maquina']['antes']} -> {r['carga_maquina']['depois']}"
    )


def memory_summary(r: dict[str, Any]) -> str:
    """Each julia process's peak USS and growth per 1,000 messages, the servers' peak, the oldest
    generation's garbage-collector pauses: what the run's memory did, beside its time."""
    parts = []
    for name, p in r.get("memoria", {}).items():
        if p.get("samples"):
            grows = p["uss_growth_kib_per_1000"]
            parts.append(
                f"{name} USS peak {p['uss_peak_mib']} MiB (RSS {p['rss_peak_mib']}), "
                + ("growth not measured" if grows is None else f"{grows:+.0f} KiB per 1,000 messages")
            )
    servers_seen = r.get("memoria_servidores_mib", {})
    if "postgres" in servers_seen:
        parts.append(f"postgres PSS peak {servers_seen['postgres']['pico']} MiB")
    if "redis" in servers_seen:
        parts.append(f"redis RSS peak {servers_seen['redis']['pico']} MiB")
    for gc_record in r.get("gc_pausas", []):
        oldest_generation = max((g for g in gc_record if g.startswith("gen")), default=None)
        if oldest_generation:
            g = gc_record[oldest_generation]
            parts.append(
                f"{gc_record['process']} GC {oldest_generation} x{g['n']} "
                f"p99 {g['p99_ms']:.1f} max {g['max_ms']:.1f} ms"
            )
    return f"memory: {', '.join(parts)}; " if parts else ""


def against_floor(r: dict[str, Any]) -> str:
    """julia's CPU per reply against the floor's in the same run, when the run measured the floor, with
    its spread over windows of replies (benches.cpu_per_reply_windows) when the samples say it; then its
    memory held per reply in flight against the floor's (memory_against_floor)."""
    if "piso" not in r:
        return ""
    floor_ms = r["piso"]["cpu_ms_por_resposta"]["total"]
    windows = benches.cpu_per_reply_windows(r)
    spread = (
        f", {min(windows) / floor_ms:.2f}x-{max(windows) / floor_ms:.2f}x over {len(windows)} windows "
        f"of {benches.REPLIES_PER_WINDOW} replies"
        if len(windows) >= 2
        else ""
    )
    return (
        f"the floor {floor_ms:.1f} ms/reply at the same rate and latencies "
        f"(julia {r['cpu_ms_por_resposta']['julia'] / floor_ms:.2f}x it{spread}); "
    ) + memory_against_floor(r)


def memory_against_floor(r: dict[str, Any]) -> str:
    """julia's memory held per reply in flight against the floor's in the same run (the ratio of their
    medians, as the engine takes it), with julia's spread over its samples against the floor's median and
    the floor's own; said unmeasured when the run measured the floor but either side could not say."""
    julia, floor_held = r.get("memoria_por_resposta"), r.get("piso", {}).get("memoria_por_resposta")
    if not julia or not floor_held or floor_held["kib"] <= 0:
        return "memory per reply against the floor not measured; " if "piso" in r else ""
    base, mine = floor_held["kib"], julia["samples_kib"]
    return (
        f"memory held per reply in flight {julia['kib']:.0f} KiB, the floor's {base:.0f} "
        f"({min(floor_held['samples_kib']):.0f}-{max(floor_held['samples_kib']):.0f}; julia "
        f"{julia['kib'] / base:.2f}x it, {min(mine) / base:.2f}x-{max(mine) / base:.2f}x over "
        f"{len(mine)} samples, at most {julia['in_flight_peak']} in flight against "
        f"{floor_held['in_flight_peak']}); "
    )


def _ingestion_line(r: dict[str, Any]) -> str:
    w, cpu = r["webhook_ms"], r["cpu_ms_por_resposta"]
    per_s = r["aceitas_por_s"]
    return (
        f"{r['cenario']['nome']}: {r['mensagens']}/{r['cenario']['medicos']} accepted, "
        f"{r['nao_gravadas']} of them not in Postgres, refused {r['recusadas']} "
        f"(errors {r['webhook_erros'] or 'none'}); webhook p50 {w['p50']:.1f} p90 {w['p90']:.1f} "
        f"p99 {w['p99']:.1f} max {w['max']:.0f} ms (driver late p99 {r['atraso_envio_ms']['p99']:.0f} ms); "
        f"accepted per second median {_median(per_s)}, max {max(per_s, default=0)}; "
        f"CPU per webhook: serve {cpu['serve']:.2f} ms, postgres {cpu.get('postgres', float('nan')):.2f}, "
        f"driver {cpu['driver']:.2f}; "
        + memory_summary(r)
        + f"load {r['carga_maquina']['antes']} -> {r['carga_maquina']['depois']}"
    )


def _median(values: list[int]) -> float:
    return statistics.median(values) if values else 0.0


def _stages(stages: dict[str, dict[str, float]]) -> str:
    if not stages.get("resposta", {}).get("n"):
        return ""
    return (
        f"p99 answering {stages['resposta']['p99']:.0f} ms (queue, Claude, completion), "
        f"sending {stages['envio']['p99']:.0f} ms; "
    )


def _tries(t: dict[str, int]) -> str:
    if not (t.get("esperas") or t.get("com_falha")):
        return ""
    return (
        f"{t['com_espera']} messages waited out Claude's rate limit ({t['esperas']} waits), "
        f"{t['com_falha']} used a failed try, {t['erro']} in erro; "
    )


def _gate_verdict(run: Run) -> None:
    """The gate storm's benchmarks in `run` judged as `julia perf gate` will judge them, said here."""
    names = [n for n, b in run.benches.items() if b.group == benches.GROUP]
    verdicts = [v for v in judge(run, load_budgets(config.find().budgets)) if v.name in names]
    for v in verdicts:
        print(f"capacity: {v.name} {v.status}", flush=True)
        for f in v.findings:
            if f.severity == "fail":
                print(f"FAIL {v.name}: {f.check}: {f.message}", file=sys.stderr)


def _judged(
    run: Run, runs: list[benches.Names], limits: benches.Limits, soak_run: bool, out: Path
) -> list[Verdict]:
    """A matrix or soak run judged by the perf engine's gate and rendered as its report in `out`."""
    cfg = config.find()
    budgets = benches.budgets(load_budgets(cfg.budgets), run, runs, limits.of(cfg.budgets, soak_run))
    verdicts = judge(run, budgets)
    written = report.render(run, verdicts, None, [], out)
    print(report.terminal(verdicts, run), flush=True)
    print(f"capacity {'FAILED' if failed(verdicts) else 'passed'}; report: {written.page}", flush=True)
    return verdicts


async def _stamp(found: servers.Servers, doctors: int) -> dict[str, Any]:
    conn = await asyncpg.connect(found.database_url)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
        version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    return benches.stamp(major, version, doctors, found.describe(), found.topology)


def measure_floor(scenario: Scenario, found_servers: servers.Servers, folder: Path) -> dict[str, Any] | None:
    """The floor at `scenario`'s rate and latencies; None, said on stderr, when it could not be measured
    (it is reported beside the run, never judged, so it must not fail one)."""
    try:
        return floor.measure(
            found_servers,
            scenario.medicos / scenario.window_s,
            scenario.window_s,
            folder,
            fakes_config=fakes_config(scenario),
        )
    except (RuntimeError, OSError, httpx2.HTTPError) as exc:
        print(f"the floor was not measured: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return None


def _scenarios(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Scenario]:
    if min(args.workers) < 0 or min(args.serve_workers) < 1:
        parser.error("--workers takes 0 or more, --serve-workers 1 or more")
    windows_s = args.window or [60.0] * len(args.doctors)
    if len(windows_s) != len(args.doctors):
        parser.error("--window takes one value per --doctors size")
    return [
        Scenario(
            medicos=n,
            window_s=window,
            workers=w,
            serve_workers=sw,
            mode=args.mode,
            rounds=args.rounds,
            claude_median_ms=args.claude_median_ms,
            claude_p99_ms=args.claude_p99_ms,
            claude_rpm=args.claude_rpm,
            evolution_median_ms=args.evolution_median_ms,
            evolution_p99_ms=args.evolution_p99_ms,
            drain_s=args.drain_s,
            chatwoot=not args.no_chatwoot,
            first_contact=args.first_contact,
            campanha=args.campaign,
            channel=args.channel,
            environment=_environment(args.set),
        )
        for n, window in zip(args.doctors, windows_s, strict=True)
        for w in args.workers
        for sw in args.serve_workers
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m julia.testing.capacity", description=__doc__)
    parser.add_argument("--doctors", type=int, nargs="+", default=[1000], help="sizes to run")
    parser.add_argument("--window", type=float, nargs="+", help="arrival window (s) per size (default 60)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="julia worker processes; 0: the webhooks alone (nothing answered, every accepted message "
        "checked in Postgres)",
    )
    parser.add_argument(
        "--serve-workers", type=int, nargs="+", default=[1], help="uvicorn processes of julia serve"
    )
    parser.add_argument("--mode", choices=["tempestade", "conversa"], default="tempestade")
    parser.add_argument("--rounds", type=int, default=3, help="conversa: messages per doctor")
    parser.add_argument("--claude-median-ms", type=float, default=2000.0)
    parser.add_argument("--claude-p99-ms", type=float, default=8000.0)
    parser.add_argument("--claude-rpm", type=int, default=None, help="fake Anthropic's requests/minute")
    parser.add_argument(
        "--evolution-median-ms", type=float, default=150.0, help="fake sendText latency (0: none)"
    )
    parser.add_argument("--evolution-p99-ms", type=float, default=600.0)
    parser.add_argument("--drain-s", type=float, default=120.0, help="unanswered this long after: lost")
    parser.add_argument(
        "--campaign",
        type=int,
        default=0,
        metavar="N",
        help="create a campaign to about N doctors just before the first message (default: none)",
    )
    parser.add_argument(
        "--channel",
        choices=["baileys", "cloud-api"],
        default="baileys",
        help="the Evolution instance's integration (EVOLUTION_INTEGRATION and the fake's); cloud-api: the "
        "campaign is the approved template oferta_plantao, sent through sendTemplate",
    )
    parser.add_argument("--no-chatwoot", action="store_true", help="do not mirror to the fake Chatwoot")
    parser.add_argument(
        "--first-contact",
        action="store_true",
        help="doctors new to Chatwoot, writing first (default: they answer a campaign julia mirrored, so "
        "their Chatwoot contact and conversation exist)",
    )
    parser.add_argument("--set", action="append", default=[], help="julia setting KEY=VALUE (repeatable)")
    # A run's own budgets: added to the limits perf/budgets.toml gives its storms (benches.budgets), for
    # this run only, and judged by the same gate as the file's.
    parser.add_argument(
        "--budget-p99-s", type=float, default=None, help="fail a storm whose time-to-reply p99 is above this"
    )
    parser.add_argument(
        "--budget-over-claude-s",
        type=float,
        default=None,
        metavar="S",
        help="fail when the time-to-reply p99 is more than S above the p99 of the Claude latencies drawn",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="the short storm of `nox -s perf` (300 doctors in 20 s, one worker, defaults), with its floor: "
        "its benchmarks go into the perf engine's results (--results) and `julia perf gate` judges them "
        "against perf/budgets.toml; said here in the same gate's words. Other scenario options are ignored",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="--gate: the perf engine's results to add the storm to (default: perf/perf.toml's, "
        "reports/out/results.json; a run of the storm alone when there is none)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="after each storm, the floor (python -m julia.testing.capacity.floor) at its rate and "
        "latencies: the same I/O with none of julia's work, its CPU per reply beside julia's "
        "(on with --gate)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help=f"the gate storm's rate ({soak.RATE_PER_S:.0f} doctors/s, one worker) for MINUTES; fails when a "
        "julia process's USS grows faster per 1,000 messages over the later half than perf/budgets.toml's "
        "[load.capacity_soak] allows (other scenario options are ignored), into reports/out/capacity-soak/",
    )
    parser.add_argument(
        "--soak-budget-kib",
        type=float,
        default=None,
        metavar="KIB",
        help="--soak: the USS growth allowed per 1,000 messages, this run only (default: perf/budgets.toml's "
        "[load.capacity_soak], which says why)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the run's results.json and report go (default reports/out/capacity, with --soak "
        "reports/out/capacity-soak; not with --gate, whose storm joins --results)",
    )
    parser.add_argument("--logs", type=Path, default=Path("reports/out/capacity"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # A SIGTERM (a CI timeout, `kill`) stops the run as Ctrl-C does, so julia's processes, the fakes and
    # the servers this run started are stopped rather than left running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.soak is not None and not args.soak > 0:
        parser.error("--soak takes a positive number of minutes")
    if args.soak and args.gate:
        parser.error("--soak and --gate are two different runs: one at a time")
    if args.gate:
        scenarios = [gate.SHORT_STORM]
    elif args.soak:
        scenarios = [soak.scenario(args.soak)]
    else:
        scenarios = _scenarios(parser, args)
    out = args.out or Path("reports/out/capacity-soak" if args.soak else "reports/out/capacity")
    path = (args.results or config.find().results) if args.gate else out / "results.json"
    settings = Settings()
    runs: list[benches.Names] = []
    with servers.resolve(settings.database_url, settings.redis_url) as found:
        stamp = (
            {}
            if args.gate and path.is_file()
            else asyncio.run(_stamp(found, max(c.medicos for c in scenarios)))
        )
        # The gate storm joins the perf run's results; a matrix or a soak is a run of its own.
        recorded = benches.joined(path, stamp) if args.gate else Run(stamp)
        for scenario in scenarios:
            result = asyncio.run(run_scenario(scenario, found, args.logs))
            if (args.floor or args.gate) and scenario.workers and scenario.mode == "tempestade":
                floor_result = measure_floor(scenario, found, args.logs / scenario.name() / "piso")
                if floor_result is not None:
                    result["piso"] = floor_result
            print(summary_line(result), flush=True)
            names = (
                benches.GATE
                if args.gate
                else benches.SOAK
                if args.soak
                else benches.names_of(scenario.name())
            )
            runs.append(names)
            benches.record(
                path, recorded, benches.benches(result, summary_line(result), names, soak=bool(args.soak))
            )
    print(
        f"capacity: {', '.join(n for n in recorded.benches if recorded.benches[n].group == benches.GROUP)} "
        f"recorded in {path}",
        flush=True,
    )
    if args.gate:
        # Recorded is done: `julia perf gate`, the one gate, fails the run on what it says here.
        _gate_verdict(recorded)
        return 0
    limits = benches.Limits(args.budget_p99_s, args.budget_over_claude_s, args.soak_budget_kib)
    return 1 if failed(_judged(recorded, runs, limits, bool(args.soak), out)) else 0


if __name__ == "__main__":
    processes.run_main(main, "capacity run")
