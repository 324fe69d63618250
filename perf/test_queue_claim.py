"""Queue claim throughput: the sender's loop over the seeded due messages. One sample is one batch:
claim up to CLAIM_BATCH rows (`reivindicar_mensagens`, committed), then for each, one by one as
julia.worker.sender does, commit the intent to send (`iniciar_envio`) and acknowledge it as sent
(`marcar_enviada`). After each batch the rows are put back as pending, untimed, so every batch sees the
same queue; dead row versions still pile up, which is why this runs after the query benchmarks and is
kept short. It runs the three statements by their text (`sql()`), like perf/test_queries.py, not through
julia.services.queues: what is measured and counted (pg_stat_statements, EXPLAIN) is the statement itself, and
the whole path through julia's code is perf/test_message_path.py's job. After the timed batches, COUNTED
more are traced by tracemalloc (julia.perf.engine.allocations, untimed): the median bytes one batch held
at once and left behind; the gate fails a peak above the base's by more than its tolerance.
"""

from __future__ import annotations

import statistics

import asyncpg

from julia.perf.context import Perf
from julia.perf.critical import CLAIM_BATCH, CLAIM_LEASE_S
from julia.perf.engine.results import Bench
from julia.queries import sql
from julia.services.queues import SEND_TRIES

# iniciar_envio's rules (julia.data.fila_mensagens.SendRules) as a Baileys instance with the default settings
# runs them: free text not held to the 24-hour window, CAMPANHA_MAX_PER_WEEK, CAMPANHA_CONVERSATION_RETRY_S.
# The seed's due rows are replies and notices (no campaign_id): the campaign branches are planned, not run.
RULES = (False, 2, 14_400)
BATCHES = 800
WARMUP = 20
BLOCK = 25  # batches per turn: 32 block pairs in an A/B run (16 left its detectable effect at 1.168x)
COUNTED = 30  # batches traced for their allocations, untimed, after the timed ones
# Undo one batch (not julia's SQL: only the benchmark ever wants a sent message pending again).
RESTORE = (
    "UPDATE fila_mensagens SET status = 'pendente', enviada_em = NULL, locked_until = NULL, "
    "envio_iniciado_em = NULL, whatsapp_message_id = NULL, tentativas = tentativas - 1 "
    "WHERE id = ANY($1::bigint[])"
)


async def test_queue_claim(perf: Perf, conn: asyncpg.Connection) -> None:
    due = await conn.fetchval(
        "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND agendar_para <= now()"
    )
    claim, start, ack = sql("reivindicar_mensagens"), sql("iniciar_envio"), sql("marcar_enviada")
    claimed: list[int] = []
    sizes: list[int] = []

    async def batch(i: int) -> None:
        rows = await conn.fetch(claim, CLAIM_BATCH, CLAIM_LEASE_S, 0)
        for row in rows:
            await conn.fetchval(start, row["id"], row["tentativas"], CLAIM_LEASE_S, SEND_TRIES, *RULES)
            await conn.fetchval(ack, row["id"], row["tentativas"], None)
        claimed[:] = [row["id"] for row in rows]

    async def restore(i: int) -> None:
        sizes.append(len(claimed))
        await conn.execute(RESTORE, claimed)

    name = f"queue_claim_batch{CLAIM_BATCH}"
    if perf.allocations_only:
        bench = Bench(name, "queue", "floor_pg_select1", [], {"due_rows": due})
        await perf.allocations_alone(bench, batch, COUNTED, warmup=WARMUP, after=restore)
        return
    paired = await perf.measure_paired(
        batch,
        lambda i: conn.fetchval("SELECT 1"),
        samples=BATCHES,
        warmup=WARMUP,
        after=restore,
        label=name,
        block=BLOCK,
    )
    samples, timed = paired.samples_ms, sizes[WARMUP:]
    # After the timed sizes are read: the profile's batches append theirs, which nothing reads.
    profiled = await perf.profile(batch, unit_ms=statistics.median(samples), after=restore)
    allocated = await perf.allocated(batch, COUNTED, after=restore)
    perf.run.add(
        paired.bench(
            name,
            "queue",
            "floor_pg_select1",
            {
                "rows": max(timed),
                "min_rows": min(timed),
                "due_rows": due,
                "msgs_per_s": round(sum(timed) / (sum(samples) / 1000), 1),
                **allocated,
            },
            profiled,
        )
    )
