"""The Redis wrapper: short timeouts, fail-open, single-flight loads, per-kind counters.

Built once per process (`Cache(redis_client, settings)`) and passed down like the pool. Three promises:

* Never raises a Redis error. Every call runs under `cache_timeout_ms`; a failure or timeout counts an
  error and the caller is answered from Postgres. After a failure the breaker skips Redis for
  `backoff_s` (so an outage costs no timeout per request), then tries again on its own: there is no
  "disabled" flag for anyone to reset.
* One load per key, however many callers miss it at once (the shift list of a busy specialty expiring
  under a burst of messages). Concurrent misses of the same key and generation share one in-process
  future; the others wait for it. We do not add a cross-process Redis lock: it would cost a round trip
  on every miss and a stuck lock would stall readers, while the worst case without it is one load per
  worker process (a handful of indexed primary-key reads).
* A write is never followed by a stale read (see keys.py for the generation scheme). A loader reads the
  generation BEFORE it queries Postgres and stores its value under that generation; writers bump the
  generation AFTER their commit. A load that raced a write therefore lands under a dead generation and
  is never served. A bump Redis refused (outage, timeout) is kept and replayed before this process reads
  Redis again, so a blip that did not empty Redis cannot resurrect pre-write values here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from julia.cache import codec, keys
from julia.cache.counters import Counters
from julia.settings import Settings

log = logging.getLogger(__name__)

TIPOS: Final = ("medico", "vagas", "contexto", "geral")
# Bumps kept while Redis is away; beyond this the oldest are dropped (their values expire by TTL anyway).
MAX_PENDENTES: Final = 10_000

R = TypeVar("R")
Carregador = Callable[[], Awaitable[Any]]


class _Indisponivel:
    """Redis did not answer in time: the caller goes to Postgres."""


INDISPONIVEL: Final = _Indisponivel()


class Cache:
    def __init__(self, redis: aioredis.Redis, settings: Settings, *, backoff_s: float = 1.0) -> None:
        self._redis = redis
        self.ttl_default = settings.cache_ttl
        self.ttl_medico = settings.cache_ttl_medico
        self.ttl_vagas = settings.cache_ttl_vagas
        self.ttl_contexto = settings.cache_ttl_contexto
        self._timeout_s = settings.cache_timeout_ms / 1000
        self._backoff_s = backoff_s
        # Outlives the values it governs, so they are not orphaned (and reloaded) early; any TTL is safe.
        self._ttl_geracao = 2 * max(self.ttl_default, self.ttl_medico, self.ttl_vagas, self.ttl_contexto)
        self._contadores = {kind: Counters() for kind in TIPOS}
        self._em_voo: dict[tuple[str, bytes | None], asyncio.Future[bytes | None]] = {}
        self._tentar_apos = 0.0  # time.monotonic() before which Redis is skipped (breaker open)
        self._falhando = False
        self._pendentes: dict[str, None] = {}  # generation keys whose bump failed, oldest first

    # --- what the metrics and health code read ---------------------------------------------------

    def counts(self) -> dict[str, dict[str, float]]:
        """{kind: {hits, misses, coalesced, errors, bypassed, loads, load_seconds_sum}} since start."""
        return {kind: contadores.as_dict() for kind, contadores in self._contadores.items()}

    def available(self) -> bool:
        """False while Redis is failing (breaker open or invalidations waiting to be replayed)."""
        return not self._falhando and not self._pendentes

    # --- plain get / put / delete (JSON, TTL) --------------------------------------------------------

    async def get(self, chave: str, *, kind: str = "geral") -> Any:
        """The JSON value at `chave`, or None when absent or when Redis is unavailable."""
        bruto = await self._call(kind, lambda r: r.get(chave))
        if not isinstance(bruto, _Indisponivel) and bruto is not None:
            try:
                valor = codec.decodificar(bruto)
            except (ValueError, KeyError):  # not JSON we wrote: as good as absent
                log.warning("unreadable cache entry %s ignored", chave)
            else:
                self._contadores[kind].hits += 1
                return valor
        self._contadores[kind].misses += 1
        return None

    async def put(self, chave: str, valor: Any, ttl: int | None = None, *, kind: str = "geral") -> bool:
        """Store `valor` as JSON for `ttl` seconds (CACHE_TTL by default); False when Redis is unavailable."""
        dados = codec.codificar(valor)
        feito = await self._call(kind, lambda r: r.set(chave, dados, ex=ttl or self.ttl_default))
        return not isinstance(feito, _Indisponivel)

    async def delete(self, *chaves: str, kind: str = "geral") -> bool:
        feito = await self._call(kind, lambda r: r.delete(*chaves))
        return not isinstance(feito, _Indisponivel)

    async def batch(
        self, montar: Callable[[Any], object], *, deadline_s: float | None = None
    ) -> list[Any] | None:
        """The replies of the commands `montar(pipe)` queues on one pipeline (not a transaction): one round
        trip, whatever the number of commands; None when Redis is unavailable (the caller fails open).
        `deadline_s`: a call that must be tried (a guard, not a cache read) gets this deadline instead of
        CACHE_TIMEOUT_MS and is tried even while the breaker skips Redis."""

        async def operacao(redis: aioredis.Redis) -> list[Any]:
            async with redis.pipeline(transaction=False) as pipe:
                montar(pipe)
                return list(await pipe.execute())

        respostas = await self._call("geral", operacao, deadline_s=deadline_s)
        return None if isinstance(respostas, _Indisponivel) else respostas

    async def count(self, *chaves: tuple[str, int], deadline_s: float | None = None) -> list[int] | None:
        """INCR each (key, ttl_s) of `chaves`, each expiring in its ttl_s, in one round trip (INCR and
        EXPIRE per key on one pipeline): the new counts in order, or None when Redis is unavailable."""

        def montar(pipe: Any) -> None:
            for chave, ttl_s in chaves:
                pipe.incr(chave)
                pipe.expire(chave, ttl_s)

        respostas = await self.batch(montar, deadline_s=deadline_s)
        return None if respostas is None else [int(contagem) for contagem in respostas[::2]]

    # --- read-through with generations --------------------------------------------------------------

    async def read(self, kind: str, chave: keys.Chave, ttl: int, carregar: Carregador) -> Any:
        """The value at `chave` if its generation is live, else `carregar()`'s (None is never cached)."""
        contadores = self._contadores[kind]
        achados = await self._call(kind, lambda r: r.mget(chave.geracao, chave.valor))
        geracao: bytes | None = None  # None: Redis unavailable, so load and store nothing
        if not isinstance(achados, _Indisponivel):
            geracao = codec.como_bytes(achados[0]) or b""  # b"": no generation yet, so nothing can match
            bruto = codec.como_bytes(achados[1])
            if bruto is not None and geracao:
                guardada, payload = codec.separar(bruto)
                if guardada == geracao:
                    try:
                        valor = codec.decodificar(payload)
                    except (ValueError, KeyError):  # not our format (a foreign writer): reload over it
                        log.warning("unreadable cache entry %s replaced", chave.valor)
                    else:
                        contadores.hits += 1
                        return valor
        contadores.misses += 1
        # Keyed by generation too: a caller that saw a write's new generation must not join a load that
        # may have read Postgres before that write committed.
        voo = (chave.valor, geracao)
        futuro = self._em_voo.get(voo)
        if futuro is None:
            futuro = asyncio.ensure_future(self._load(kind, chave, geracao, ttl, carregar))
            self._track(voo, futuro)
        else:
            contadores.coalesced += 1
        # shield: a caller that is cancelled must not cancel the load the others are waiting for.
        carregado: bytes | None = await asyncio.shield(futuro)
        # Every caller decodes its own copy, exactly like a hit: no object is shared between callers.
        return None if carregado is None else codec.decodificar(carregado)

    async def invalidate(self, kind: str, *geracoes: str) -> None:
        """Give each namespace a fresh generation. Call AFTER the Postgres commit. Never raises."""
        novas = {geracao: keys.nova_geracao() for geracao in geracoes}
        if isinstance(await self._call(kind, lambda r: self._write_generations(r, novas)), _Indisponivel):
            for geracao in novas:
                self._pendentes[geracao] = None
            while len(self._pendentes) > MAX_PENDENTES:
                del self._pendentes[next(iter(self._pendentes))]

    async def forget(self, kind: str, padrao: str) -> bool:
        """Delete every generation key matching `padrao`, so nothing stored under them is served again:
        the full flush after the change feed may have missed notifications. SCAN (one bounded step per
        round trip, never blocking Redis) rather than KEYS; UNLINK frees the memory off Redis's main
        thread. False when Redis failed mid-way (the caller tries again). Rare: never on a hot path."""
        cursor = 0
        while True:
            passo = await self._call(kind, _varrer(cursor, padrao))
            if isinstance(passo, _Indisponivel):
                return False
            cursor, encontradas = int(passo[0]), list(passo[1])
            if encontradas and isinstance(await self._call(kind, _apagar(encontradas)), _Indisponivel):
                return False
            if cursor == 0:
                return True

    # --- internals ------------------------------------------------------------------------------------

    async def _load(
        self, kind: str, chave: keys.Chave, geracao: bytes | None, ttl: int, carregar: Carregador
    ) -> bytes | None:
        if geracao == b"":
            # Create the namespace's generation BEFORE reading Postgres (a writer that bumps it meanwhile
            # wins: SET NX ... GET then answers the writer's token, still read before our query).
            criada = keys.nova_geracao()
            anterior = await self._call(
                kind, lambda r: r.set(chave.geracao, criada, nx=True, get=True, ex=self._ttl_geracao)
            )
            if isinstance(anterior, _Indisponivel):
                geracao = None
            else:
                vigente = codec.como_bytes(anterior) if isinstance(anterior, bytes | str) else None
                geracao = vigente or criada
                # Callers who read the generation just created join this load rather than start another.
                tarefa = asyncio.current_task()
                assert tarefa is not None  # _load always runs as the task read() created
                self._track((chave.valor, geracao), tarefa)
        inicio = time.perf_counter()
        valor = await carregar()
        contadores = self._contadores[kind]
        contadores.loads += 1
        contadores.load_seconds_sum += time.perf_counter() - inicio
        if valor is None:
            return None
        payload = codec.codificar(valor)
        if geracao is not None:
            dados = geracao + keys.SEPARATOR + payload
            await self._call(kind, lambda r: r.set(chave.valor, dados, ex=ttl))
        return payload

    def _track(self, voo: tuple[str, bytes | None], futuro: asyncio.Future[bytes | None]) -> None:
        if voo not in self._em_voo:
            self._em_voo[voo] = futuro
            futuro.add_done_callback(lambda done: self._untrack(voo, done))

    def _untrack(self, voo: tuple[str, bytes | None], futuro: asyncio.Future[bytes | None]) -> None:
        if self._em_voo.get(voo) is futuro:
            del self._em_voo[voo]

    async def _write_generations(self, redis: aioredis.Redis, novas: dict[str, bytes]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for geracao, token in novas.items():
                pipe.set(geracao, token, ex=self._ttl_geracao)
            await pipe.execute()

    async def _call(
        self,
        kind: str,
        operacao: Callable[[aioredis.Redis], Awaitable[R]],
        *,
        deadline_s: float | None = None,
    ) -> R | _Indisponivel:
        """Run one Redis operation under the timeout (`deadline_s`, when given: see batch); any failure
        becomes INDISPONIVEL, counted."""
        contadores = self._contadores[kind]
        if deadline_s is None and self._falhando and time.monotonic() < self._tentar_apos:
            contadores.bypassed += 1
            return INDISPONIVEL
        try:
            async with asyncio.timeout(deadline_s or self._timeout_s):
                if self._pendentes:
                    await self._replay_pending()
                resultado = await operacao(self._redis)
        except (RedisError, OSError, TimeoutError) as exc:
            contadores.errors += 1
            self._tentar_apos = time.monotonic() + self._backoff_s
            if not self._falhando:
                # A TimeoutError's text is empty: the type is what tells a timeout from a refused connection.
                log.warning("redis unavailable, serving from postgres: %s", _descrever(exc))
                self._falhando = True
            return INDISPONIVEL
        if self._falhando:
            log.info("redis answers again; caching resumes")
            self._falhando = False
        return resultado

    async def _replay_pending(self) -> None:
        """Replay the bumps Redis missed before trusting anything it holds."""
        pendentes = list(self._pendentes)
        await self._write_generations(self._redis, {g: keys.nova_geracao() for g in pendentes})
        for geracao in pendentes:
            self._pendentes.pop(geracao, None)


def _varrer(cursor: int, padrao: str) -> Callable[[aioredis.Redis], Awaitable[Any]]:
    def operacao(redis: aioredis.Redis) -> Awaitable[Any]:
        return redis.scan(cursor, match=padrao, count=1000)

    return operacao


def _apagar(chaves: list[Any]) -> Callable[[aioredis.Redis], Awaitable[Any]]:
    def operacao(redis: aioredis.Redis) -> Awaitable[Any]:
        return redis.unlink(*chaves)

    return operacao


def _descrever(exc: BaseException) -> str:
    """`TimeoutError`, `ConnectionError: Error 111 connecting...`: the type always, the text when any."""
    texto = str(exc)
    return f"{type(exc).__name__}: {texto}" if texto else type(exc).__name__
