"""A tenant's live redemption messages put back in commit order before a stream passes them on.

Publishers publish after their own commit, each on its own: a message can overtake one
whose transaction committed before it (a worker's, another API process's). A stream that
passed the later one on first could see its client leave and resume after it, and the
earlier one would never reach that client. So a stream keeps the number (`seq`, see
models.live.messages) up to which it has handled every event, and a message that arrives ahead of a
missing number is held: the missing one usually follows within milliseconds. After
`GAP_GRACE` the missing ones are read from the database instead, where they are: every
number below a committed one is committed (a publisher may have died after its commit,
or failed to reach Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

GAP_GRACE = 0.25  # seconds a message waits for the ones numbered before it

# (after, upto) -> the stored messages numbered in (after, upto], lowest first, one page
Read = Callable[[int, int], Awaitable[list[dict[str, Any]]]]


class CommitOrder:
    def __init__(
        self, position: int, read: Read, page: int, *, resumed: bool, grace: float = GAP_GRACE
    ) -> None:
        self.position = position  # every event numbered up to here was handled
        # A new stream read `position` just after subscribing: a message numbered up to it
        # was published after the subscription began, so goes on as it comes (as it did
        # before numbers). A resumed stream had those in its replay or before its cursor.
        self._start = None if resumed else position
        self._read = read
        self._page = page
        self._grace = grace
        self._held: dict[int, dict[str, Any]] = {}
        self._held_since = 0.0

    def wait(self) -> float | None:
        """How long the stream may wait for the next message before reading the missing
        ones from the database; None while nothing is held."""
        if not self._held:
            return None
        return max(0.0, self._held_since + self._grace - asyncio.get_running_loop().time())

    def arrived(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages that may go on now, in order (none while a number is missing)."""
        seq = message.get("seq")
        if seq is None:
            return [message]  # published without a number (an older process): as it comes
        if self._start is not None and seq <= self._start:
            return [message]
        if seq <= self.position or seq in self._held:
            return []  # had it: replayed, read to fill a gap, or before the cursor
        if seq != self.position + 1:
            if not self._held:
                self._held_since = asyncio.get_running_loop().time()
            self._held[seq] = message
            return []
        self.position = seq
        ready = [message]
        while self.position + 1 in self._held:
            self.position += 1
            ready.append(self._held.pop(self.position))
        if self._held:
            self._held_since = asyncio.get_running_loop().time()
        return ready

    async def filled(self) -> list[dict[str, Any]]:
        """The held messages and, read from the database, the ones missing before them."""
        upto = max(self._held)
        stored: dict[int, dict[str, Any]] = {}
        after = self.position
        while after < upto:
            page = await self._read(after, upto)
            stored.update((m["seq"], m) for m in page)
            if len(page) < self._page:
                break
            after = page[-1]["seq"]
        stored.update(self._held)
        self._held.clear()
        self.position = upto
        return [stored[seq] for seq in sorted(stored)]
