"""A few at a time per key, within this process.

Tasks that would each wait in the database for the same row lock take turns here instead:
a few of them hold a pooled connection and queue on the row, the others wait in the event
loop, where waiting costs nothing. A database backend waiting on a row lock holds its
connection, sleeps and wakes for every holder before it and re-checks the row each time;
thirty requests for one popular reward tied up a whole connection pool that way, and doubled
PostgreSQL's CPU a redemption.

Only an optimisation, never a guard: other processes do not take turns with this one, so
the database's own locks and guarded writes still decide every outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import TracebackType


class Turns:
    """`async with turns.of(key):` runs at most `at_once` tasks at a time per key, first
    come first served. A key is forgotten once nobody holds or waits for it."""

    def __init__(self, at_once: int = 1) -> None:
        self.at_once = at_once
        self._held: dict[Hashable, _Turn] = {}

    def of(self, key: Hashable) -> _Turn:
        turn = self._held.get(key)
        if turn is None:
            turn = self._held[key] = _Turn(self, key)
        return turn

    def __len__(self) -> int:
        """How many keys are held or waited for."""
        return len(self._held)

    def _forget(self, key: Hashable, turn: _Turn) -> None:
        if self._held.get(key) is turn:
            del self._held[key]


class _Turn:
    __slots__ = ("_key", "_slots", "_turns", "_users")

    def __init__(self, turns: Turns, key: Hashable) -> None:
        self._turns = turns
        self._key = key
        self._slots = asyncio.Semaphore(turns.at_once)
        self._users = 0  # holding or waiting

    async def __aenter__(self) -> None:
        self._users += 1
        try:
            await self._slots.acquire()
        except BaseException:  # cancelled while waiting
            self._leave()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()
        self._leave()

    def _leave(self) -> None:
        self._users -= 1
        if not self._users:
            self._turns._forget(self._key, self)
