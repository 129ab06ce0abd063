"""Group commit: what concurrent tasks of one process send, sent together.

A webhook worker's jobs write their leases and attempt records through it; an API
process's requests count their rate limits (core.rate_limit). Each task awaits its own
item, so it goes on only once its write is done: a task is no further along than it
would be with a round trip of its own, and a crash loses what it would have lost anyway.
One flush runs at a time; items that arrive meanwhile wait for the next, so a busy
process sends big batches and a quiet one adds no delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[list[R]]],
        limit: int = 500,
        linger: float = 0.0,
    ) -> None:
        """`flush(items)` writes them in one go and answers one result per item, in order;
        it must write all or nothing (one statement, or one transaction). `linger`: how
        long a flush waits for more items once the first is in (seconds)."""
        self._flush = flush
        self._limit = limit
        self._linger = linger
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._busy = False

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._draining is None:
            # The task copies this job's context (Tortoise's database context with it).
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                # Let the jobs of this loop iteration join in; while the worker is busy
                # (the last batch had company), also those of the next `linger` seconds.
                await asyncio.sleep(self._linger if self._busy else 0)
                batch = self._waiting[: self._limit]
                del self._waiting[: self._limit]
                self._busy = len(batch) > 1
                await self._run(batch)
        except BaseException:  # cancelled (the loop is closing): nobody may wait forever
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._draining = None

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                # All or nothing was written: one bad item must not fail the others.
                for entry in batch:
                    await self._run([entry])
                return
            _settle(batch[0][1], exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its job was cancelled meanwhile
                future.set_result(result)


def _settle(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
