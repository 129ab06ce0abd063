"""In-process caches of what rarely changes, per tenant, kept right across processes.

A cache serves a value only while this process follows the invalidation channel on Redis
(engine.credential_watch subscribes; `following` says so). Whoever changes a cached fact
says `Invalidate(cache, tenant)` after commit (core.after_commit): it drops the entry here
at once and publishes the drop, and every following process drops it within milliseconds.
A process that does not follow (a worker, the CLI, an API process cut off from Redis)
reads the database every time: a message it might miss can never leave it serving a stale
value. A TTL bounds what a lost message could still cost.

A load that raced a drop (read before the change committed, stored after its drop
arrived) is not kept: each drop moves the tenant's generation on, and a load stores only
if the generation it started under is still current.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from core.after_commit import Once, after_commit, current_unit
from core.queue import JobQueue

log = logging.getLogger(__name__)
T = TypeVar("T")
TTL_SECONDS = 30.0
CACHE_CHANNEL = "gamify:cache-invalidations"


class TenantCache(Generic[T]):
    def __init__(self, name: str, ttl: float = TTL_SECONDS) -> None:
        self.name = name
        self.ttl = ttl
        self._entries: dict[UUID, tuple[float, T]] = {}
        self._generations: dict[UUID, int] = {}
        _CACHES[name] = self

    async def get(self, tenant_id: UUID, load: Callable[[], Awaitable[T]]) -> T:
        if not _state.following:
            return await self._once_per_operation(tenant_id, load)
        hit = self._entries.get(tenant_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generations.get(tenant_id, 0)
        value = await load()
        if _state.following and self._generations.get(tenant_id, 0) == generation:
            self._entries[tenant_id] = (now + self.ttl, value)
        return value

    async def _once_per_operation(self, tenant_id: UUID, load: Callable[[], Awaitable[T]]) -> T:
        """Without the broadcast nothing outlives the operation: read once per operation
        (a change it makes drops its copy, `invalidate`), or every time outside one."""
        unit = current_unit()
        if unit is None:
            return await load()
        key = (self.name, tenant_id)
        if key not in unit.memo:  # the read itself is kept: concurrent resolvers share it
            unit.memo[key] = asyncio.ensure_future(load())
        try:
            value: T = await asyncio.shield(unit.memo[key])
        except BaseException:
            unit.memo.pop(key, None)
            raise
        return value

    def drop(self, tenant_id: UUID) -> None:
        self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1
        self._entries.pop(tenant_id, None)

    def clear(self) -> None:
        for tenant_id in list(self._generations):
            self.drop(tenant_id)
        self._entries.clear()


_CACHES: dict[str, TenantCache[Any]] = {}


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
        name, tenant_id = str(message["cache"]), UUID(str(message["tenantId"]))
    except (ValueError, TypeError, KeyError):
        log.warning("cache invalidation: ignored a malformed message")
        return
    _drop_here(name, tenant_id)


@dataclass(frozen=True)
class Invalidate(Once):
    """After commit: drop the tenant's entry of `cache` here and on every process."""

    cache: str
    tenant_id: UUID

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        _drop_here(self.cache, self.tenant_id)
        if broker is not None:
            message = {"cache": self.cache, "tenantId": str(self.tenant_id)}
            await broker.publish(CACHE_CHANNEL, message)


def invalidate(cache: TenantCache[Any], tenant_id: UUID) -> None:
    """The tenant's cached fact changed: dropped here and on every process after commit.
    Outside a unit of work (a script, a test calling models/ directly) there is no commit
    to wait for and no broker to tell: dropped here at once."""
    unit = current_unit()
    if unit is None:
        cache.drop(tenant_id)
    else:
        unit.memo.pop((cache.name, tenant_id), None)
        after_commit(Invalidate(cache.name, tenant_id))


def _drop_here(name: str, tenant_id: UUID) -> None:
    cache = _CACHES.get(name)
    if cache is not None:
        cache.drop(tenant_id)
