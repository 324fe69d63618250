"""The sender: drains fila_mensagens through Evolution sendText.

- Claims with `reivindicar_mensagens` (priority, then schedule; leased; julia/sql/fila_mensagens.sql).
- One doctor's messages of a batch go one after another, in queue order; doctors go in parallel.
- Per-instance rate limits shared by every worker process, one for replies to waiting doctors and one
  for campaigns (julia/worker/taxa.py: a token bucket in Redis).
- Transient failures back off exponentially; a 400 (number not on WhatsApp) or the last try ends in
  'erro' with the reason.
- Nothing is sent twice: the row id is the idempotency key. Right after Evolution accepts a message its
  id is recorded in Redis under the row id, before Postgres is told; a row that comes back (its sender
  died, or Postgres failed after the send) is found there and marked sent without a second send.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from julia.data.campanhas import destino_envio
from julia.data.fila_mensagens import reivindicar_mensagens
from julia.integrations import IntegracaoError
from julia.queries import sql
from julia.worker.espelho import espelhar
from julia.worker.pausa import envio_pausado
from julia.worker.servicos import Servicos
from julia.worker.taxa import Taxa, classe

log = logging.getLogger(__name__)

MAX_TENTATIVAS = 5
BACKOFF_MAX_S = 300.0
ENVIADA_TTL_S = 7 * 24 * 3600  # longer than any lease or backoff: the key outlives every retry of the row


def chave_enviada(fila_id: int) -> str:
    return f"julia:fila:enviada:{fila_id}"


class Remetente:
    def __init__(self, s: Servicos, *, lote: int = 20, backoff_s: float = 2.0) -> None:
        self._s = s
        self._lote = lote
        self._backoff_s = backoff_s
        self._taxa = Taxa(s.redis, s.settings)

    async def drenar_lote(self) -> int:
        """Claim one batch and send it; how many rows were claimed (0: nothing due, or sending paused)."""
        if await envio_pausado(self._s.redis):
            return 0  # emergency stop (julia pause-sending): claim nothing, the queue waits intact
        linhas = await reivindicar_mensagens(self._s.pool, self._lote, self._s.settings.queue_lease_s)
        por_medico: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for linha in sorted(linhas, key=lambda r: r["id"]):
            por_medico[linha["cliente_id"]].append(linha)
        await asyncio.gather(*(self._enviar_em_ordem(grupo) for grupo in por_medico.values()))
        return len(linhas)

    async def _enviar_em_ordem(self, linhas: Sequence[asyncpg.Record]) -> None:
        for linha in linhas:
            try:
                await self._enviar(linha)
            except Exception:  # one bad row must not stop the doctor's others; its lease brings it back
                log.exception("fila_mensagens %s: unexpected failure", linha["id"])

    async def _enviar(self, linha: asyncpg.Record) -> None:
        s = self._s
        fila_id, tentativas = linha["id"], linha["tentativas"]
        ja_enviada = await s.redis.get(chave_enviada(fila_id))
        if ja_enviada is not None:
            texto = ja_enviada.decode() if isinstance(ja_enviada, bytes) else str(ja_enviada)
            await self._marcar_enviada(linha, texto or None)
            return
        telefone = await destino_envio(s.pool, fila_id, tentativas)
        if telefone is None:  # a campaign message to a doctor who opted out (or was blocked): cancelled
            return
        await self._aguardar_vez(linha)
        try:
            whatsapp_id = await s.evolution.enviar_texto(telefone, linha["conteudo"])
        except IntegracaoError as exc:
            await self._falha(linha, exc)
            return
        await s.redis.set(chave_enviada(fila_id), whatsapp_id or "", ex=ENVIADA_TTL_S)
        await self._marcar_enviada(linha, whatsapp_id)
        if linha["conversa_id"] is not None:
            await espelhar(s.pool, s.chatwoot, linha["conversa_id"], linha["conteudo"], "outgoing")
        log.debug("fila_mensagens %s sent (try %s)", fila_id, tentativas)

    async def _marcar_enviada(self, linha: asyncpg.Record, whatsapp_id: str | None) -> None:
        async with self._s.pool.acquire() as conn, conn.transaction():
            interacao_id = await conn.fetchval(
                sql("marcar_enviada"), linha["id"], linha["tentativas"], whatsapp_id
            )
            if whatsapp_id and interacao_id is not None:
                await conn.execute(sql("marcar_interacao_enviada"), interacao_id, whatsapp_id)

    async def _falha(self, linha: asyncpg.Record, exc: IntegracaoError) -> None:
        fila_id, tentativas = linha["id"], linha["tentativas"]
        if not exc.transitorio or tentativas >= MAX_TENTATIVAS:
            log.error("fila_mensagens %s not sent (try %s): %s", fila_id, tentativas, exc)
            await self._s.pool.execute(sql("falhar_mensagem"), fila_id, tentativas, str(exc))
            return
        espera = min(self._backoff_s * 2 ** (tentativas - 1), BACKOFF_MAX_S)
        log.warning("fila_mensagens %s failed (try %s), again in %.1fs: %s", fila_id, tentativas, espera, exc)
        await self._s.pool.execute(sql("adiar_mensagem"), fila_id, tentativas, espera, str(exc))

    async def _aguardar_vez(self, linha: asyncpg.Record) -> None:
        """The row's class's token (reply or campaign), shared by every worker process."""
        await self._taxa.aguardar(classe(linha["prioridade"]))
