"""Every entry point runs what its change said must follow the commit: a GraphQL
mutation, the REST callback and a worker job each leave their webhook jobs on the queue
when they end, without waiting for the relay (which runs every 10 s)."""

from __future__ import annotations

from typing import Any

import httpx
from arq.jobs import Job, JobStatus
from arq.worker import func

from core.jobs import DELIVER_WEBHOOK
from core.queue import ArqQueue
from core.settings import Settings
from engine.app import create_app
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption
from models.tenancy.access import create_api_key
from models.webhooks.endpoints import create_endpoint
from models.webhooks.outbox import attempt_key
from models.webhooks.tables import PayloadFormat, WebhookDelivery
from tests.factories import make_member, make_reward, make_tenant
from tests.graphql_client import graphql_value
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.worker_process import Queue
from workers.settings import WorkerSettings

REDEEM = """mutation($m: String!, $r: ID!) {
  redeemReward(externalUserId: $m, rewardId: $r) { redemption { id status } errors { code } }
}"""


async def _queued(queue: Queue, delivery: WebhookDelivery) -> bool:
    """Whether the delivery's current attempt waits on the queue as its own job."""
    key = attempt_key(delivery.attempt_count, delivery.next_attempt_at, delivery.leased_until)
    job = Job(f"deliver:{delivery.id}:{key}", queue.pool, _queue_name=queue.name)
    return await job.status() == JobStatus.queued


async def _shop(receiver: Receiver, events: list[str]) -> tuple[Any, Any, Any, str]:
    t = await make_tenant()
    await create_endpoint(
        t.tenant.id, receiver.url + "/hooks", events, PayloadFormat.GAMIFY, allow_private=True
    )
    member = await make_member(t.tenant.id, points=100)
    reward = await make_reward(t.tenant.id, point_cost=10)
    _, key = await create_api_key(t.tenant.id, "backend")
    return t, member, reward, key


async def test_graphql_redeem_and_rest_callback_enqueue_their_webhooks_when_they_end(
    db: str, settings: Settings, queue: Queue, receiver: Receiver
) -> None:
    _, member, reward, key = await _shop(receiver, ["reward_redeemed", "redemption.status_changed"])
    app = create_app(settings, init_orm=False)
    graphql = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    graphql.endpoint.queue.target = ArqQueue(queue.pool)  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        # when the backend redeems over GraphQL
        redeemed_value = await graphql_value(
            http, REDEEM, {"m": member.external_user_id, "r": str(reward.id)}, key
        )
        redemption_id = redeemed_value["redemption"]["id"]
        # then its redemption.created delivery is queued by the time the answer arrives
        (redeemed,) = await WebhookDelivery.filter(event="redemption.created")
        assert await _queued(queue, redeemed)
        # when the fulfilment backend calls back
        answer = await http.post(
            f"/api/v1/redemptions/{redemption_id}/callback",
            json={"status": "fulfilled", "data": {"code": "VC-1"}},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200
    # then the status change's delivery is queued too
    (changed,) = await WebhookDelivery.filter(event="redemption.status_changed")
    assert await _queued(queue, changed)
    assert await queue.size() == 2


async def test_a_provider_answer_queues_its_status_change_webhook_at_once(
    db: str, hook_settings: Settings, queue: Queue, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    # given a redemption whose fulfilment backend answers its webhook with "fulfilled"
    receiver.answer(Answer(200, body='{"status": "fulfilled", "data": {"code": "VC-2"}}'))
    t, member, reward, _ = await _shop(receiver, ["reward_redeemed", "redemption.status_changed"])
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    (redeemed,) = await WebhookDelivery.filter(event="redemption.created")
    # when the worker runs the delivery job as WorkerSettings registers it
    job = next(f for f in map(func, WorkerSettings.functions) if f.name == DELIVER_WEBHOOK)
    ctx = {"redis": queue.pool, "settings": hook_settings, "http": http}
    assert await job.coroutine(ctx, str(redeemed.id)) == "DELIVERED"
    # then the redemption is fulfilled and its status-change webhook waits on the queue
    assert (await Redemption.get(id=redemption.id)).status == "FULFILLED"
    (changed,) = await WebhookDelivery.filter(event="redemption.status_changed")
    assert await _queued(queue, changed)
