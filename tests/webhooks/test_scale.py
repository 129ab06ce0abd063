"""1,000 redemptions, two worker processes, one receiver: every webhook arrives, once.

The redemptions are made concurrently and each enqueues its job after commit, as the API
does; the two `WorkerSettings` processes share the queue and the database. The rate is
printed (`pytest -s`) as a side figure, never asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from core.after_commit import unit_of_work
from core.queue import ArqQueue
from core.settings import Settings
from models.redemptions.redeem import RedeemRequest, redeem_with_effects
from models.webhooks.endpoints import create_endpoint
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookAttempt, WebhookDelivery
from tests.dbsetup import is_postgres
from tests.factories import make_reward, make_tenant
from tests.models.test_races import seed_members
from tests.polling import eventually
from tests.webhooks.receiver import Receiver
from tests.webhooks.worker_process import (
    Queue,
    WorkerProcess,
    worker_environment,
)

pytestmark = pytest.mark.skipif(
    not is_postgres(),
    reason="several worker processes writing one database are a PostgreSQL deployment; "
    "SQLite serves one process (DESIGN.md, STACK-NOTES.md)",
)

REDEMPTIONS = 1000
WORKERS = 2
CONCURRENCY = 20  # redemptions in flight in this process (its pool holds 30 connections)
# Bounds for a hang, not performance targets: the machine may be busy with other runs.
REDEEM_TIMEOUT = 120.0
DELIVERY_TIMEOUT = 60.0


async def test_thousand_redemptions_give_thousand_deliveries_on_two_workers(
    db: str, settings: Settings, receiver: Receiver, queue: Queue, tmp_path: Path
) -> None:
    # given a tenant with one endpoint, 1,000 members who can each afford the reward once,
    # and two worker processes on the queue
    t = await make_tenant()
    await create_endpoint(
        t.tenant.id,
        receiver.url + "/hooks",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    reward = await make_reward(t.tenant.id, point_cost=10)
    member_ids = await seed_members(t.tenant.id, REDEMPTIONS, points=10)
    env = worker_environment(db, queue, GAMIFY_DB_POOL_SIZE="5")
    workers: list[WorkerProcess] = []
    try:
        for n in range(WORKERS):
            workers.append(await WorkerProcess.start(queue.name, env, tmp_path / f"w{n}.log"))

        # when the redemptions are made concurrently, each enqueuing its job after commit
        jobs = ArqQueue(queue.pool)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def redeem_and_enqueue(member_id: UUID) -> list[UUID]:
            async with gate, unit_of_work(jobs, None):
                redeemed = await redeem_with_effects(
                    RedeemRequest(t.tenant.id, member_id, reward.id)
                )
            rows = WebhookDelivery.filter(redemption_id=redeemed.redemption.id)
            return list(await rows.values_list("id", flat=True))

        started = time.perf_counter()
        async with asyncio.timeout(REDEEM_TIMEOUT):
            per_redemption = await asyncio.gather(*(redeem_and_enqueue(m) for m in member_ids))
        redeemed_at = time.perf_counter()
        ids = {delivery for batch in per_redemption for delivery in batch}
        assert len(ids) == REDEMPTIONS

        async def all_delivered() -> bool:
            done = await WebhookDelivery.filter(status=DeliveryStatus.DELIVERED).count()
            return done >= REDEMPTIONS

        try:
            await eventually(all_delivered, within=DELIVERY_TIMEOUT, interval=0.1)
        except TimeoutError:
            pending = await WebhookDelivery.exclude(status=DeliveryStatus.DELIVERED).values_list(
                "status", "attempt_count", "last_status_code", "last_error"
            )
            states = Counter(pending)
            logs = "\n".join(w.log()[-3000:] for w in workers)
            pytest.fail(
                f"{len(pending)} deliveries not delivered in {DELIVERY_TIMEOUT:g} s "
                f"(redeemed in {redeemed_at - started:.1f} s): {states}\n{logs}"
            )
        finished = time.perf_counter()
        assert all(w.running for w in workers), "\n".join(w.log() for w in workers)
    finally:
        codes = [await w.stop() for w in workers]
    assert codes == [0] * WORKERS, "\n".join(w.log() for w in workers)

    # then the receiver saw each of the 1,000 webhook-ids, and no request twice
    seen = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(seen) == {str(i) for i in ids}
    assert [wid for wid, n in seen.items() if n > 1] == []
    # and every delivery took exactly one attempt, a 2xx one
    attempts = await WebhookAttempt.filter(delivery_id__in=list(ids)).values_list(
        "delivery_id", "status_code"
    )
    assert len(attempts) == REDEMPTIONS
    assert {code for _, code in attempts} == {200}
    print(
        f"\n{REDEMPTIONS} redemptions in {redeemed_at - started:.2f} s "
        f"({REDEMPTIONS / (redeemed_at - started):.0f}/s); all delivered by {WORKERS} workers "
        f"{finished - started:.2f} s after the first redeem "
        f"({REDEMPTIONS / (finished - started):.0f} deliveries/s end to end)"
    )
