"""The sender's token buckets (GCRA in Redis): one second of sends passes at once, the next send waits
one interval, buckets are shared by every Taxa on the same Redis, and the classes do not share."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from julia.settings import Settings
from julia.worker.taxa import GCRA, PRIORIDADE_RESPOSTA, Taxa, classe

CHAVE = "julia:teste:gcra"


def _settings(instancia: str) -> Settings:
    return Settings(
        evolution_instance=instancia,
        evolution_rate_per_s=20,
        evolution_campanha_rate_per_s=2,
        evolution_api_key=SecretStr("x"),
    )


async def test_rajada_de_um_segundo_e_depois_um_intervalo(redis: aioredis.Redis) -> None:
    await redis.delete(CHAVE)
    script = redis.register_script(GCRA)
    intervalo = 1e6 / 20
    args = [intervalo, 19 * intervalo]
    esperas = [int(await script(keys=[CHAVE], args=args)) for _ in range(21)]
    assert esperas[:20] == [0] * 20
    assert 0 < esperas[20] <= intervalo  # the 21st conforms within one interval (50 ms), not a second
    await redis.delete(CHAVE)


async def test_balde_e_compartilhado_e_as_classes_nao(redis: aioredis.Redis) -> None:
    instancia = "teste-taxa"
    await redis.delete(*[f"julia:evolution:gcra:{instancia}:{c}" for c in ("resposta", "campanha")])
    um, outro = Taxa(redis, _settings(instancia)), Taxa(redis, _settings(instancia))
    await um.aguardar("campanha")
    await outro.aguardar("campanha")  # the campaign bucket (2/s) is now empty for both processes
    chave = f"julia:evolution:gcra:{instancia}:campanha"
    assert int(await redis.register_script(GCRA)(keys=[chave], args=[5e5, 5e5])) > 0
    for _ in range(20):  # replies draw from their own bucket: no wait behind the campaign
        await um.aguardar("resposta")
    assert int(await redis.exists(f"julia:evolution:gcra:{instancia}:resposta")) == 1


def test_classe_pela_prioridade() -> None:
    assert classe(PRIORIDADE_RESPOSTA) == "resposta"
    assert classe(10) == "resposta"
    assert classe(5) == "campanha"
    assert classe(0) == "campanha"
