"""README promises of `pointsLog` fetching: one fetch per member at a time, however many
readers ask at once, and FETCH_PENDING when no worker finished in time."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.factories import make_member
from tests.pointmaster.live_engine import Engine
from tests.pointmaster.test_points_log import LOG_BODY, follower, points_log
from tests.webhooks.receiver import Answer, Receiver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def test_readers_at_once_share_one_fetch(engine: Engine, master: Receiver) -> None:
    # given a master that takes half a second to answer, and a log never fetched
    tenant = await follower(engine, master, pointsLogTimeoutMs=5000)
    member = await make_member(tenant.id)
    master.default = Answer(body=LOG_BODY, delay=0.5)
    # when eight readers ask for the member's log at the same moment
    logs = await asyncio.gather(
        *(points_log(engine, tenant.admin, m=str(member.id)) for _ in range(8))
    )
    # then the master was asked once, and every reader got its answer
    assert len(master.received) == 1
    assert all(log["error"] is None and len(log["entries"]) == 2 for log in logs), logs


async def test_no_worker_in_time_is_fetch_pending(
    engine: Engine, master: Receiver, redis_url: str
) -> None:
    # given a member whose fetch job is already held (as by a worker that stalls)
    tenant = await follower(engine, master, pointsLogTimeoutMs=300)
    member = await make_member(tenant.id)
    held = aioredis.from_url(redis_url)
    await held.set(f"arq:job:points-log:{member.id}", b"held", ex=60)
    try:
        # when the log is read
        log = await points_log(engine, tenant.admin, m=str(member.id))
    finally:
        await held.delete(f"arq:job:points-log:{member.id}")
        await held.aclose()
    # then the reader is told to ask again shortly, and the master was not asked
    assert log["error"]["code"] == "FETCH_PENDING"
    assert (log["entries"], log["stale"]) == (None, False)
    assert master.received == []
