"""What a Redis counted of its own commands (INFO commandstats), for tests that check how
many round trips the engine made."""

from __future__ import annotations

import redis.asyncio as redis


async def command_calls(client: redis.Redis, *names: str) -> int:
    """How many times Redis ran the commands `names` (as commandstats names them:
    "evalsha", "pubsub|numsub") so far."""
    stats = await client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)
