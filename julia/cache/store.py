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
  is never served. A loader that found no generation creates one with its value (SET NX, in the same
  round trip as the value), which a writer's bump made meanwhile wins. A bump Redis refused (outage,
  timeout) is kept and replayed before this process reads Redis again, so a blip that did not empty
  Redis cannot resurrect pre-write values here.
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

KINDS: Final = ("medico", "vagas", "contexto", "geral")
# Bumps kept while Redis is away; beyond this the oldest are dropped (their values expire by TTL anyway).
MAX_PENDING: Final = 10_000

R = TypeVar("R")
Loader = Callable[[], Awaitable[Any]]


class _Unavailable:
    """Redis did not answer in time: the caller goes to Postgres."""


UNAVAILABLE: Final = _Unavailable()


class Cache:
    def __init__(self, redis: aioredis.Redis, settings: Settings, *, backoff_s: float = 1.0) -> None:
        self._redis = redis
        self.ttl_default = settings.cache_ttl
        self.ttl_medico = settings.cache_ttl_medico
        self.ttl_vagas = settings.cache_ttl_vagas
        self.context_ttl = settings.cache_ttl_contexto
        self._timeout_s = settings.cache_timeout_ms / 1000
        self._backoff_s = backoff_s
        # Outlives the values it governs, so they are not orphaned (and reloaded) early; any TTL is safe.
        self._generation_ttl = 2 * max(self.ttl_default, self.ttl_medico, self.ttl_vagas, self.context_ttl)
        self._counters = {kind: Counters() for kind in KINDS}
        self._in_flight: dict[tuple[str, bytes | None], asyncio.Future[bytes | None]] = {}
        self._retry_after = 0.0  # time.monotonic() before which Redis is skipped (breaker open)
        self._failing = False
        self._pending: dict[str, None] = {}  # generation keys whose bump failed, oldest first

    # --- what the metrics and health code read ---------------------------------------------------

    def counts(self) -> dict[str, dict[str, float]]:
        """{kind: {hits, misses, coalesced, errors, bypassed, loads, load_seconds_sum}} since start."""
        return {kind: counters.as_dict() for kind, counters in self._counters.items()}

    def available(self) -> bool:
        """False while Redis is failing (breaker open or invalidations waiting to be replayed)."""
        return not self._failing and not self._pending

    # --- plain get / put / delete (JSON, TTL) --------------------------------------------------------

    async def get(self, key: str, *, kind: str = "geral") -> Any:
        """The JSON value at `key`, or None when absent or when Redis is unavailable."""
        raw = await self._call(kind, lambda r: r.get(key))
        if not isinstance(raw, _Unavailable) and raw is not None:
            try:
                valor = codec.decode(raw)
            except (ValueError, KeyError):  # not JSON we wrote: as good as absent
                log.warning("unreadable cache entry %s ignored", key)
            else:
                self._counters[kind].hits += 1
                return valor
        self._counters[kind].misses += 1
        return None

    async def put(self, key: str, valor: Any, ttl: int | None = None, *, kind: str = "geral") -> bool:
        """Store `valor` as JSON for `ttl` seconds (CACHE_TTL by default); False when Redis is unavailable."""
        dados = codec.encode(valor)
        done = await self._call(kind, lambda r: r.set(key, dados, ex=ttl or self.ttl_default))
        return not isinstance(done, _Unavailable)

    async def delete(self, *keys: str, kind: str = "geral") -> bool:
        done = await self._call(kind, lambda r: r.delete(*keys))
        return not isinstance(done, _Unavailable)

    async def batch(
        self, build: Callable[[Any], object], *, deadline_s: float | None = None
    ) -> list[Any] | None:
        """The replies of the commands `build(pipe)` queues on one pipeline (not a transaction): one round
        trip, whatever the number of commands; None when Redis is unavailable (the caller fails open).
        `deadline_s`: a call that must be tried (a guard, not a cache read) gets this deadline instead of
        CACHE_TIMEOUT_MS and is tried even while the breaker skips Redis."""

        async def operacao(redis: aioredis.Redis) -> list[Any]:
            async with redis.pipeline(transaction=False) as pipe:
                build(pipe)
                return list(await pipe.execute())

        replies = await self._call("geral", operacao, deadline_s=deadline_s)
        return None if isinstance(replies, _Unavailable) else replies

    async def count(self, *keys: tuple[str, int], deadline_s: float | None = None) -> list[int] | None:
        """INCR each (key, ttl_s) of `chaves`, each expiring in its ttl_s, in one round trip (INCR and
        EXPIRE per key on one pipeline): the new counts in order, or None when Redis is unavailable."""

        def build(pipe: Any) -> None:
            for key, ttl_s in keys:
                pipe.incr(key)
                pipe.expire(key, ttl_s)

        replies = await self.batch(build, deadline_s=deadline_s)
        return None if replies is None else [int(tally) for tally in replies[::2]]

    # --- read-through with generations --------------------------------------------------------------

    async def read(self, kind: str, key: keys.Key, ttl: int, load: Loader) -> Any:
        """The value at `key` if its generation is live, else `load()`'s (None is never cached)."""
        counters = self._counters[kind]
        findings = await self._call(kind, lambda r: r.mget(key.generation, key.valor))
        generation: bytes | None = None  # None: Redis unavailable, so load and store nothing
        if not isinstance(findings, _Unavailable):
            generation = codec.como_bytes(findings[0]) or b""  # b"": no generation yet, so nothing can match
            raw = codec.como_bytes(findings[1])
            if raw is not None and generation:
                guardada, payload = codec.split(raw)
                if guardada == generation:
                    try:
                        valor = codec.decode(payload)
                    except (ValueError, KeyError):  # not our format (a foreign writer): reload over it
                        log.warning("unreadable cache entry %s replaced", key.valor)
                    else:
                        counters.hits += 1
                        return valor
        counters.misses += 1
        # Keyed by generation too: a caller that saw a write's new generation must not join a load that
        # may have read Postgres before that write committed.
        flight = (key.valor, generation)
        future_one = self._in_flight.get(flight)
        if future_one is None:
            future_one = asyncio.ensure_future(self._load(kind, key, generation, ttl, load))
            self._track(flight, future_one)
        else:
            counters.coalesced += 1
        # shield: a caller that is cancelled must not cancel the load the others are waiting for.
        loaded: bytes | None = await asyncio.shield(future_one)
        # Every caller decodes its own copy, exactly like a hit: no object is shared between callers.
        return None if loaded is None else codec.decode(loaded)

    async def invalidate(self, kind: str, *generations: str) -> None:
        """Give each namespace a fresh generation. Call AFTER the Postgres commit. Never raises."""
        novas = {generation: keys.new_generation() for generation in generations}
        if isinstance(await self._call(kind, lambda r: self._write_generations(r, novas)), _Unavailable):
            for generation in novas:
                self._pending[generation] = None
            while len(self._pending) > MAX_PENDING:
                del self._pending[next(iter(self._pending))]

    async def forget(self, kind: str, default: str) -> bool:
        """Delete every generation key matching `padrao`, so nothing stored under them is served again:
        the full flush after the change feed may have missed notifications. SCAN (one bounded step per
        round trip, never blocking Redis) rather than KEYS; UNLINK frees the memory off Redis's main
        thread. False when Redis failed mid-way (the caller tries again). Rare: never on a hot path."""
        cursor = 0
        while True:
            step = await self._call(kind, _sweep(cursor, default))
            if isinstance(step, _Unavailable):
                return False
            cursor, found_matches = int(step[0]), list(step[1])
            if found_matches and isinstance(await self._call(kind, _erase(found_matches)), _Unavailable):
                return False
            if cursor == 0:
                return True

    # --- internals ------------------------------------------------------------------------------------

    async def _load(
        self, kind: str, key: keys.Key, generation: bytes | None, ttl: int, load: Loader
    ) -> bytes | None:
        inicio = time.perf_counter()
        valor = await load()
        counters = self._counters[kind]
        counters.loads += 1
        counters.load_seconds_sum += time.perf_counter() - inicio
        if valor is None:
            return None
        payload = codec.encode(valor)
        if generation:
            dados = generation + keys.SEPARATOR + payload
            await self._call(kind, lambda r: r.set(key.valor, dados, ex=ttl))
        elif generation == b"":
            # No generation when read: created now, with the value, in one round trip. SET NX leaves a
            # writer's token alone, so a write that bumped while Postgres was read keeps this value (stored
            # under the loader's own token) from ever being served; a load with nothing in its way makes
            # the generation its own.
            criada = keys.new_generation()
            dados = criada + keys.SEPARATOR + payload
            await self._call(kind, lambda r: self._store_first(r, key, criada, dados, ttl))
        return payload

    def _track(self, flight: tuple[str, bytes | None], future_one: asyncio.Future[bytes | None]) -> None:
        if flight not in self._in_flight:
            self._in_flight[flight] = future_one
            future_one.add_done_callback(lambda done: self._untrack(flight, done))

    def _untrack(self, flight: tuple[str, bytes | None], future_one: asyncio.Future[bytes | None]) -> None:
        if self._in_flight.get(flight) is future_one:
            del self._in_flight[flight]

    async def _store_first(
        self, redis: aioredis.Redis, key: keys.Key, generation: bytes, dados: bytes, ttl: int
    ) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(key.generation, generation, nx=True, ex=self._generation_ttl)
            pipe.set(key.valor, dados, ex=ttl)
            await pipe.execute()

    async def _write_generations(self, redis: aioredis.Redis, novas: dict[str, bytes]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for generation, token in novas.items():
                pipe.set(generation, token, ex=self._generation_ttl)
            await pipe.execute()

    async def _call(
        self,
        kind: str,
        operacao: Callable[[aioredis.Redis], Awaitable[R]],
        *,
        deadline_s: float | None = None,
    ) -> R | _Unavailable:
        """Run one Redis operation under the timeout (`deadline_s`, when given: see batch); any failure
        becomes INDISPONIVEL, counted."""
        counters = self._counters[kind]
        if deadline_s is None and self._failing and time.monotonic() < self._retry_after:
            counters.bypassed += 1
            return UNAVAILABLE
        try:
            async with asyncio.timeout(deadline_s or self._timeout_s):
                if self._pending:
                    await self._replay_pending()
                resultado = await operacao(self._redis)
        except (RedisError, OSError, TimeoutError) as exc:
            counters.errors += 1
            self._retry_after = time.monotonic() + self._backoff_s
            if not self._failing:
                # A TimeoutError's text is empty: the type is what tells a timeout from a refused connection.
                log.warning("redis unavailable, serving from postgres: %s", _describe(exc))
                self._failing = True
            return UNAVAILABLE
        if self._failing:
            log.info("redis answers again; caching resumes")
            self._failing = False
        return resultado

    async def _replay_pending(self) -> None:
        """Replay the bumps Redis missed before trusting anything it holds."""
        pendentes = list(self._pending)
        await self._write_generations(self._redis, {g: keys.new_generation() for g in pendentes})
        for generation in pendentes:
            self._pending.pop(generation, None)


def _sweep(cursor: int, default: str) -> Callable[[aioredis.Redis], Awaitable[Any]]:
    def operacao(redis: aioredis.Redis) -> Awaitable[Any]:
        return redis.scan(cursor, match=default, count=1000)

    return operacao


def _erase(keys: list[Any]) -> Callable[[aioredis.Redis], Awaitable[Any]]:
    def operacao(redis: aioredis.Redis) -> Awaitable[Any]:
        return redis.unlink(*keys)

    return operacao


def _describe(exc: BaseException) -> str:
    """`TimeoutError`, `ConnectionError: Error 111 connecting...`: the type always, the text when any."""
    texto = str(exc)
    return f"{type(exc).__name__}: {texto}" if texto else type(exc).__name__
