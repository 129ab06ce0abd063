"""Waiting for what has no event to wait on: another process, the database, a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[object]], within: float = 10.0, interval: float = 0.05
) -> None:
    """Poll until `check` answers something true; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - nothing here has an event to wait on
            await asyncio.sleep(interval)
