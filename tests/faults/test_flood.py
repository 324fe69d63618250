"""Issue 34's flood from one number, against real `julia serve` + `julia worker` processes: 60 messages
from one number at once, beside one message from each of 10 other doctors. Every message is stored; the
flooding number's Claude calls stay within INBOUND_PER_MINUTE (the rest stored and mirrored only); the
other doctors are each answered once, within the reply budget below.

Deterministic by construction (an earlier version was flaky and removed): it waits on observable state only
(every inbound and queued row closed in Postgres, then the fake Evolution's sends), never on a sleep, and
no count depends on when the flood crosses a minute's edge. The counter is per calendar minute, so a flood
across an edge may be answered up to twice the limit: the test holds the bound (at most 2 x the limit)
and the exact identity (Claude's calls = the rows stored to be answered), not a count that would need
the clock's luck.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.faults.conftest import Build
from tests.faults.system import Message, messages, quiet

LIMIT = 5
FLOOD = 60
OTHERS = 10
NUMBER = "5511977770000"
# The other doctors' budget: a reply sent within QUEUE_DEGRADED_AGE_S of its message, the age at which
# julia's own health check calls the inbound queue degraded (set for this run; 300 s in production).
DEADLINE_S = 30


async def test_a_flood_from_one_number_does_not_become_claude_calls(build: Build) -> None:
    ambiente = {"INBOUND_PER_MINUTE": str(LIMIT), "QUEUE_DEGRADED_AGE_S": str(DEADLINE_S)}
    flood = [Message(NUMBER, f"3EB0SPAM{i}", f"Spam {i}") for i in range(FLOOD)]
    other_ones = messages(OTHERS, "outros")  # ids 3EB0OUTROS<i>: none shared with the flood's
    sent_at: dict[str, float] = {}
    async with build(ambiente=ambiente) as (system, pool), httpx.AsyncClient(timeout=30) as cliente:

        async def accepted(msg: Message) -> bool:
            sent_at[msg.numero] = time.time()  # the fake Evolution stamps its sends with time.time()
            return (await system.deliver(cliente, msg)).accepted

        accepted_ones = await asyncio.gather(*(accepted(m) for m in [*flood, *other_ones]))
        await quiet(pool, 120)  # every inbound row answered or stored, every reply sent
        estado = (await system.fake_servers.estado())["contadores"]
        sends = [e for e in await system.fake_servers.enviadas() if e["status"] == 201]

        assert all(accepted_ones)
        stored = await pool.fetchval(
            "SELECT count(*) FROM interacoes i JOIN clientes c ON c.id = i.cliente_id"
            " WHERE i.direcao = 'entrada' AND c.telefone = $1",
            "+" + NUMBER,
        )
        assert stored == FLOOD  # none lost
        handlings: dict[str, int] = {
            linha["tratamento"]: linha["n"]
            for linha in await pool.fetch(
                "SELECT e.tratamento, count(*) AS n FROM entradas e JOIN clientes c ON c.id = e.cliente_id"
                " WHERE c.telefone = $1 GROUP BY 1",
                "+" + NUMBER,
            )
        }
        respondidas = handlings.get("responder", 0)
        assert 1 <= respondidas <= 2 * LIMIT, handlings
        assert respondidas + handlings.get("registrar", 0) == FLOOD, handlings
        # One Claude call per message stored to be answered (the fake answers without tools), no more.
        assert estado["claude_pedidos"] == respondidas + OTHERS, (estado, handlings)
        assert sum(1 for e in sends if e["numero"] == NUMBER) == respondidas

        # The other doctors: each answered once, with the reply to their own message, within the budget.
        for msg in other_ones:
            theirs = [e for e in sends if e["numero"] == msg.numero]
            assert [e["texto"] for e in theirs] == [msg.resposta], (msg.numero, theirs)
            wait_s = theirs[0]["recebido_em"] - sent_at[msg.numero]
            assert wait_s < DEADLINE_S, (msg.numero, wait_s)
