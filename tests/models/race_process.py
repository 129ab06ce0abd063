"""One OS process of the two-process redeem race (launched by test_multiprocess.py).

usage: python tests/models/race_process.py DATABASE_URL TENANT_ID REWARD_ID MEMBER_IDS_FILE

Connects to the database, prints READY, waits for a line on stdin (the common start
signal), then fires one redeem per member id (one per line in the file) all at once and
prints one JSON line: {"outcomes": {"ok": n, "<code>": n, ...}, "started": t, "finished": t}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

from tortoise import Tortoise

from core.errors import Conflict, Refused
from core.settings import tortoise_config
from models.redeem import RedeemRequest, redeem

POOL_SIZE = 12  # two of these beside the test process stay well under max_connections
START_TIMEOUT = 30.0
RACE_TIMEOUT = 60.0


async def redeem_outcome(tenant_id: UUID, member_id: UUID, reward_id: UUID) -> str:
    try:
        await redeem(RedeemRequest(tenant_id, member_id, reward_id, actor="race-process"))
    except (Refused, Conflict) as exc:
        return exc.code
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def run(database_url: str, tenant_id: UUID, reward_id: UUID, member_ids: list[UUID]) -> None:
    await Tortoise.init(
        config=tortoise_config(database_url, pool_size=POOL_SIZE), _enable_global_fallback=True
    )
    try:
        print("READY", flush=True)
        async with asyncio.timeout(START_TIMEOUT):
            await asyncio.to_thread(sys.stdin.readline)
        started = time.time()
        async with asyncio.timeout(RACE_TIMEOUT):
            outcomes = await asyncio.gather(
                *(redeem_outcome(tenant_id, m, reward_id) for m in member_ids)
            )
        finished = time.time()
    finally:
        await Tortoise.close_connections()
    report = {"outcomes": Counter(outcomes), "started": started, "finished": finished}
    print(json.dumps(report), flush=True)


def main(argv: list[str]) -> None:
    database_url, tenant_id, reward_id, members_file = argv[1:5]
    member_ids = [UUID(line) for line in Path(members_file).read_text().split()]
    asyncio.run(run(database_url, UUID(tenant_id), UUID(reward_id), member_ids))


if __name__ == "__main__":
    main(sys.argv)
