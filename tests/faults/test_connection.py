"""WhatsApp itself failing under real `julia serve` + `julia worker` processes: the fake Evolution posts
its own webhooks to julia as Evolution does (every send's `messages.update` receipts, `connection.update`
when the connection drops and comes back). A campaign is cut by a close: within a second nothing more is
sent, after `open` every held message goes exactly once, and the campaign's report counts what the fake
reported, receipts repeated, out of order and racing the sends' own 201s included."""

from __future__ import annotations

import asyncio
import collections
import time

import httpx

from julia.integrations.evolution import STATE_OF_STATUS
from tests.faults.conftest import Build
from tests.faults.system import KEY

MEDICOS = 60
ADMIN = "token-admin"
ORDER = ["falhou", "entregue", "lida"]


async def test_whatsapp_drops_mid_campanha_and_returns(build: Build) -> None:
    ambiente = {
        "ADMIN_TOKEN": ADMIN,
        "CAMPANHA_HORA_INICIO": "0",  # any hour: the test must not depend on the wall clock
        "CAMPANHA_HORA_FIM": "24",
        "EVOLUTION_CAMPANHA_RATE_PER_S": "20",  # three seconds of campaign: the close lands inside it
    }
    fake_servers = {
        "evolution": {
            "fracao_falha_entrega": 0.2,
            "fracao_lida": 0.5,
            "recibos_repetidos": True,
            "recibos_invertidos": True,
        }
    }
    async with build(ambiente=ambiente, fake_servers=fake_servers) as (system, pool):
        fake = system.fake_servers
        await fake.configure(
            "evolution", webhook_url=f"{system.url}/webhooks/evolution", webhook_headers={"apikey": KEY}
        )
        await pool.execute(
            "INSERT INTO clientes (telefone, primeiro_nome, status, tags)"
            " SELECT '+55119' || lpad(i::text, 8, '0'), 'Ana', 'ativo', ARRAY['queda']"
            " FROM generate_series(1, $1::int) i",
            MEDICOS,
        )
        async with httpx.AsyncClient(base_url=system.url, timeout=10) as cliente:
            criada = await cliente.post(
                "/admin/campanhas",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"id": "queda", "tag": "queda", "texto": "Oi {primeiro_nome}", "por_minuto": 1000},
            )
            assert criada.status_code == 201, criada.text
            await pool.execute("UPDATE fila_mensagens SET agendar_para = now() WHERE campanha_id = 'queda'")

            end = time.monotonic() + 60
            while len(await fake.enviadas()) < 10:
                assert time.monotonic() < end, "the campaign did not start"
                await asyncio.sleep(0.02)
            assert (await fake.conexao("close", 401))["julia"] == 200
            closed_at = time.time()
            await asyncio.sleep(1.0)
            after_a_second = len(await fake.enviadas())
            await asyncio.sleep(2.0)
            sends = await fake.enviadas()
            assert len(sends) == after_a_second  # nothing is even tried while closed
            assert all(e["recebido_em"] < closed_at + 1.0 for e in sends)
            linha = [round(e["recebido_em"] - closed_at, 3) for e in sends]
            assert sum(e["status"] == 201 for e in sends) < MEDICOS, (linha, system.log("worker1"))

            assert (await fake.conexao("open", 200))["julia"] == 200
            end = time.monotonic() + 60
            while await pool.fetchval("SELECT count(*) FROM fila_mensagens WHERE status <> 'enviada'"):
                assert time.monotonic() < end, system.log("worker1")
                await asyncio.sleep(0.1)
            accepted_ones = collections.Counter(
                e["numero"] for e in await fake.enviadas() if e["status"] == 201
            )
            assert len(accepted_ones) == MEDICOS
            assert set(accepted_ones.values()) == {1}  # nothing lost, nothing twice

            # Every receipt posted (each send's are posted in the background, after its 201).
            end, seen = time.monotonic() + 30, -1
            while (recibos := await fake.recibos()) and len(recibos) != seen:
                assert time.monotonic() < end
                seen = len(recibos)
                await asyncio.sleep(0.5)
            assert {r["resposta"] for r in recibos} == {200}
            final: dict[str, str] = {}
            for r in recibos:
                estado = STATE_OF_STATUS.get(r["status"])
                if estado and (r["id"] not in final or ORDER.index(estado) > ORDER.index(final[r["id"]])):
                    final[r["id"]] = estado
            assert len(final) == MEDICOS
            relatorio = (
                await cliente.get("/admin/campanhas/queda", headers={"Authorization": f"Bearer {ADMIN}"})
            ).json()["relatorio"]
        assert relatorio["enviadas"] == MEDICOS
        assert relatorio["entregues"] == sum(e in ("entregue", "lida") for e in final.values())
        assert relatorio["lidas"] == sum(e == "lida" for e in final.values())
        assert relatorio["nao_entregues"] == sum(e == "falhou" for e in final.values())
        assert relatorio["nao_entregues"] > 0
