"""What the README's Webhooks section promises and no other test held it to: status-change
webhooks, the 2 KB answer kept, the private-address check at delivery
time, and pending deliveries of a disabled endpoint becoming dead when their turn comes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import httpx

from core import clock
from core.settings import Settings
from models.redemptions.lifecycle import Via, transition
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import RedemptionStatus
from models.webhooks.endpoints import create_endpoint
from models.webhooks.outbox import RESPONSE_LIMIT
from models.webhooks.tables import DeliveryStatus, PayloadFormat, WebhookAttempt, WebhookDelivery
from tests.factories import make_member, make_reward, make_tenant
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.test_delivery import START, _setup_delivery_for, setup_delivery
from workers.webhooks import deliver


async def test_a_status_change_is_posted_to_endpoints_that_subscribe_to_it(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given an endpoint subscribed to status changes only, and a redemption
    t = await make_tenant()
    await create_endpoint(
        t.tenant.id,
        receiver.url + "/status",
        ["redemption.status_changed"],
        PayloadFormat.XTREMEPUSH,  # status changes always use the GAMIFY shape
        allow_private=True,
    )
    member = await make_member(t.tenant.id, points=100)
    reward = await make_reward(t.tenant.id, point_cost=100)
    redemption = await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))
    # when the backend reports it postponed, with a reason
    moved = await transition(
        t.tenant.id,
        redemption.id,
        RedemptionStatus.POSTPONED,
        Via.CALLBACK,
        actor="test",
        reason="warehouse closed",
    )
    # then exactly that change is in the outbox (not the redeem), and the worker posts it
    assert moved.changed
    (delivery,) = await WebhookDelivery.filter(tenant_id=t.tenant.id)
    status, _ = await deliver(delivery.id, hook_settings, http)
    assert status == DeliveryStatus.DELIVERED
    body = json.loads(receiver.received[0].body)
    assert receiver.received[0].path == "/status"
    assert body["event"] == "redemption.status_changed"
    assert (body["redemption_id"], body["old_status"], body["new_status"], body["reason"]) == (
        str(redemption.id),
        "REDEEMED",
        "POSTPONED",
        "warehouse closed",
    )
    assert body["external_user_id"] == member.external_user_id


async def test_the_first_2_kb_of_an_answer_are_kept(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given a receiver answering an error page of 10 KB
    page = "".join(f"{n:05d}" for n in range(2000))
    receiver.answer(Answer(500, body=page))
    _, delivery_id = await setup_delivery(receiver)
    # when
    await deliver(delivery_id, hook_settings, http)
    # then the attempt log keeps its first 2 KB exactly
    (attempt,) = await WebhookAttempt.filter(delivery_id=delivery_id)
    assert RESPONSE_LIMIT == 2048
    assert attempt.status_code == 500 and attempt.response_body == page[:2048]


async def test_private_address_is_checked_again_at_delivery(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given an endpoint saved while private targets were allowed (its host is 127.0.0.1)
    _, delivery_id = await setup_delivery(receiver)
    # when a deployment that does not allow them delivers
    strict = replace(hook_settings, webhook_allow_private=False)
    status, result = await deliver(delivery_id, strict, http)
    # then nothing is sent, and the refused attempt is logged and retried like a failure
    assert receiver.received == []
    assert status == DeliveryStatus.PENDING and result is not None
    assert result.status_code is None and "non-public address" in (result.error or "")
    (attempt,) = await WebhookAttempt.filter(delivery_id=delivery_id)
    assert "127.0.0.1" in (attempt.error or "")


async def test_pending_deliveries_die_with_their_disabled_endpoint(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given an endpoint with two deliveries waiting, failing since 6 days
    receiver.default = Answer(503)
    with clock.frozen_at(START):
        endpoint, first = await setup_delivery(receiver)
        await deliver(first, hook_settings, http)
        clock.advance(timedelta(days=6))
        _, waiting = await _setup_delivery_for(endpoint.endpoint)
        _, failing = await _setup_delivery_for(endpoint.endpoint)
        # when one more attempt fails past GAMIFY_WEBHOOK_DISABLE_AFTER_HOURS
        await deliver(failing, hook_settings, http)
        # and the worker comes to the others when they are due
        for pending in (waiting, first):
            await deliver(pending, hook_settings, http)
    # then the endpoint is disabled and every delivery that was pending on it is dead,
    # visibly, the waiting one never sent
    statuses = {
        d.id: d.status for d in await WebhookDelivery.filter(endpoint_id=endpoint.endpoint.id)
    }
    assert statuses == {first: "DEAD", waiting: "DEAD", failing: "DEAD"}
    assert len(receiver.received) == 2
    assert await WebhookAttempt.filter(delivery_id=waiting).count() == 0
