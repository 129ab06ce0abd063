"""In-process caches of what rarely changes, kept right across processes.

A cache holds values by key: a tenant's facts by its id (`TenantCache`), an API key's
holder by the key's digest. It serves a value only while this process follows the
invalidation channel on Redis (engine.credential_watch subscribes; `following` says so).
Whoever changes a cached fact says `invalidate(cache, key)` after commit
(core.after_commit): it drops the entry here at once and publishes the drop, and every
following process drops it within milliseconds. A process that does not follow (a
worker, the CLI, an API process cut off from Redis) reads the database every time: a
message it might miss can never leave it serving a stale value. A TTL bounds what a lost
message could still cost.

A load that raced a drop (read before the change committed, stored after its drop
arrived) is not kept: each drop moves the key's generation on, losing the channel moves
the whole cache's epoch on, and a load stores only if both are still those it started
under.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from core.after_commit import Once, after_commit, current_unit
from core.queue import JobQueue

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
TTL_SECONDS = 30.0
CACHE_CHANNEL = "gamify:cache-invalidations"


class Cache(Generic[K, T]):
    """Values by key. `parse` turns a key back from its text in an invalidation message
    (`str(key)` is what is sent); it raises ValueError or TypeError on what is no key."""

    def __init__(self, name: str, parse: Callable[[str], K], ttl: float = TTL_SECONDS) -> None:
        self.name = name
        self.parse = parse
        self.ttl = ttl
        self._entries: dict[K, tuple[float, T]] = {}
        self._generations: dict[K, int] = {}
        self._epoch = 0
        # The load in flight of each key, and the (epoch, generation) it started under.
        self._flights: dict[K, tuple[tuple[int, int], asyncio.Future[T]]] = {}
        _CACHES[name] = self

    async def get(self, key: K, load: Callable[[], Awaitable[T]]) -> T:
        """The value of `key`, loaded if need be. A load that raises stores nothing.

        Concurrent misses of a key share one load (after a drop, every request of a busy
        tenant would otherwise read the same rows at once): the first loads, the others
        wait for its value or its error, and load themselves if it was cancelled. A load
        started before a drop is not joined."""
        if not _state.following:
            return await self._once_per_operation(key, load)
        while True:
            hit = self._entries.get(key)
            now = time.monotonic()
            if hit is not None and hit[0] > now:
                return hit[1]
            started = (self._epoch, self._generations.get(key, 0))
            flight = self._flights.get(key)
            if flight is None or flight[0] != started:
                return await self._load(key, load, started, now)
            try:
                # shielded: a waiter that goes away must not cancel the others' load
                return await asyncio.shield(flight[1])
            except _Abandoned:
                continue  # its loader was cancelled

    async def _load(
        self, key: K, load: Callable[[], Awaitable[T]], started: tuple[int, int], now: float
    ) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[key] = (started, future)
        try:
            value = await load()
        except BaseException as exc:
            abandoned = isinstance(exc, asyncio.CancelledError)
            future.set_exception(_Abandoned() if abandoned else exc)
            future.exception()  # retrieved: no "never retrieved" log when nobody waited
            raise
        else:
            if _state.following and (self._epoch, self._generations.get(key, 0)) == started:
                self._entries[key] = (now + self.ttl, value)
            future.set_result(value)
            return value
        finally:
            if self._flights.get(key, (None, None))[1] is future:
                del self._flights[key]

    async def _once_per_operation(self, key: K, load: Callable[[], Awaitable[T]]) -> T:
        """Without the broadcast nothing outlives the operation: read once per operation
        (a change it makes drops its copy, `invalidate`), or every time outside one."""
        unit = current_unit()
        if unit is None:
            return await load()
        memo_key = (self.name, key)
        if memo_key not in unit.memo:  # the read itself is kept: concurrent resolvers share it
            unit.memo[memo_key] = asyncio.ensure_future(load())
        try:
            value: T = await asyncio.shield(unit.memo[memo_key])
        except BaseException:
            unit.memo.pop(memo_key, None)
            raise
        return value

    def drop(self, key: K) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        # A load in flight started in the old epoch: it stores nothing, whatever its key's
        # generation (so the generations can start again).
        self._epoch += 1
        self._entries.clear()
        self._generations.clear()


class TenantCache(Cache[UUID, T]):
    """Values by tenant id."""

    def __init__(self, name: str, ttl: float = TTL_SECONDS) -> None:
        super().__init__(name, UUID, ttl)


class _Abandoned(Exception):
    """A shared load's loader was cancelled: whoever waited for it loads anew."""


_CACHES: dict[str, Cache[Any, Any]] = {}


class _State:
    following = False


_state = _State()


def following() -> bool:
    """Whether this process follows the invalidations (its caches serve)."""
    return _state.following


def follow(on: bool) -> None:
    """The invalidation channel is (on) or is no longer (off) followed by this process.
    Either way what is cached is dropped: messages may have been missed meanwhile."""
    _state.following = on
    for cache in _CACHES.values():
        cache.clear()


def dropped(data: bytes | str) -> None:
    """An invalidation message from another process (or this one)."""
    try:
        message = json.loads(data)
        name, text = message["cache"], message["key"]
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError("a cache and a key are sent as text")
        cache = _CACHES.get(name)
        if cache is None:
            return  # a cache this process does not have holds nothing to drop
        key = cache.parse(text)
    except (ValueError, TypeError, KeyError):
        log.warning("cache invalidation: ignored a malformed message")
        return
    cache.drop(key)


@dataclass(frozen=True)
class Invalidate(Once):
    """After commit: drop the entry `entry` of `cache` here and on every process."""

    cache: str
    entry: Hashable

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        _drop_here(self.cache, self.entry)
        if broker is not None:
            await broker.publish(CACHE_CHANNEL, {"cache": self.cache, "key": str(self.entry)})


def invalidate(cache: Cache[K, Any], key: K) -> None:
    """The cached fact of `key` changed: dropped here and on every process after commit.
    Outside a unit of work (a script, a test calling models/ directly) there is no commit
    to wait for and no broker to tell: dropped here at once."""
    unit = current_unit()
    if unit is None:
        cache.drop(key)
    else:
        unit.memo.pop((cache.name, key), None)
        after_commit(Invalidate(cache.name, key))


def _drop_here(name: str, key: Hashable) -> None:
    cache = _CACHES.get(name)
    if cache is not None:
        cache.drop(key)
