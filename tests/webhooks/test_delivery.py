"""Delivery to a real receiver: both signatures, retries on a controlled clock, answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from tortoise.transactions import in_transaction

from core import clock
from core.settings import Settings
from models.redemptions.redeem import RedeemRequest, redeem
from models.redemptions.tables import Redemption, RedemptionEvent
from models.webhooks.endpoints import EndpointWithSecret, create_endpoint, rotate_secret
from models.webhooks.outbox import RETRY_SCHEDULE, add_deliveries
from models.webhooks.tables import (
    DeliveryStatus,
    PayloadFormat,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.factories import make_member, make_reward, make_tenant
from tests.webhooks.receiver import Answer, Received, Receiver
from workers.webhook_http import new_client
from workers.webhooks import deliver

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


# The receiver's checks, written from the README's recipes (not the engine's code).
def gamify_valid(secret: str, received: Received) -> bool:
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    offered = received.headers["x-gamifyengine-signature"].split(",")
    return any(hmac.compare_digest(expected, sig) for sig in offered)


def standard_valid(secret: str, received: Received, now: int) -> bool:
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + received.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = received.headers["webhook-signature"].split(" ")
    return any(hmac.compare_digest(expected, sig) for sig in offered)


async def setup_delivery(
    receiver: Receiver, *, redemption: bool = False
) -> tuple[EndpointWithSecret, UUID]:
    t = await make_tenant()
    endpoint = await create_endpoint(
        t.tenant.id,
        receiver.url + "/hooks",
        ["reward_redeemed"],
        PayloadFormat.GAMIFY,
        allow_private=True,
    )
    redemption_id = None
    if redemption:
        member = await make_member(t.tenant.id, points=100)
        reward = await make_reward(t.tenant.id, point_cost=100)
        redemption_id = (await redeem(RedeemRequest(t.tenant.id, member.id, reward.id))).id
    payload: dict[str, Any] = {"event": "reward_redeemed", "points_spent": 100}
    async with in_transaction() as conn:
        ids = await add_deliveries(
            conn, t.tenant.id, "reward_redeemed", lambda _f: payload, redemption_id=redemption_id
        )
    return endpoint, ids[0]


async def test_receiver_verifies_both_signatures(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given
    endpoint, delivery_id = await setup_delivery(receiver)
    # when
    status, _ = await deliver(delivery_id, hook_settings, http)
    # then
    assert status == DeliveryStatus.DELIVERED
    got = receiver.received[0]
    now = int(clock.now().timestamp())
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == str(delivery_id)
    assert gamify_valid(endpoint.secret, got) and standard_valid(endpoint.secret, got, now)
    assert json.loads(got.body) == {"event": "reward_redeemed", "points_spent": 100}
    # a tampered body, a wrong secret and a stale timestamp all fail the receiver's check
    tampered = Received(got.path, got.headers, got.body.replace(b"100", b"999"))
    assert not gamify_valid(endpoint.secret, tampered)
    assert not standard_valid(endpoint.secret, tampered, now)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not gamify_valid(other, got) and not standard_valid(other, got, now)
    assert not standard_valid(endpoint.secret, got, now + 301)


async def test_both_secrets_verify_during_rotation(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given a rotated secret with a one-hour overlap
    with clock.frozen_at(START):
        endpoint, delivery_id = await setup_delivery(receiver)
        rotated = await rotate_secret(
            endpoint.endpoint.tenant_id, endpoint.endpoint.id, timedelta(hours=1)
        )
        # when
        await deliver(delivery_id, hook_settings, http)
        # then receivers on the old and on the new secret both accept it
        got, now = receiver.received[0], int(START.timestamp())
        assert standard_valid(endpoint.secret, got, now) and standard_valid(
            rotated.secret, got, now
        )
        assert gamify_valid(endpoint.secret, got) and gamify_valid(rotated.secret, got)
        # when the overlap is over, only the new secret signs
        clock.advance(timedelta(hours=2))
        _, second = await _setup_delivery_for(endpoint.endpoint)
        await deliver(second, hook_settings, http)
        late = receiver.received[1]
        later = int(clock.now().timestamp())
        assert standard_valid(rotated.secret, late, later)
        assert not standard_valid(endpoint.secret, late, later)


async def _setup_delivery_for(endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, UUID]:
    async with in_transaction() as conn:
        ids = await add_deliveries(conn, endpoint.tenant_id, "reward_redeemed", lambda _f: {"n": 2})
    return endpoint, ids[0]


async def _run_until_settled(
    delivery_id: UUID, settings: Settings, http: httpx.AsyncClient, attempts: int
) -> list[timedelta]:
    """Deliver, move the clock to the next due time, repeat; returns the delays seen."""
    delays = []
    for _ in range(attempts):
        before = clock.now()
        await deliver(delivery_id, settings, http)
        delivery = await WebhookDelivery.get(id=delivery_id)
        if delivery.status != DeliveryStatus.PENDING:
            break
        assert delivery.next_attempt_at is not None
        delays.append(delivery.next_attempt_at - before)
        clock.advance(delivery.next_attempt_at - clock.now())
    return delays


def _within_jitter(delay: timedelta, base: timedelta) -> bool:
    return base * 0.8 <= delay <= base * 1.2


async def test_500s_follow_the_retry_schedule_then_the_delivery_is_dead(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given a receiver that always fails
    receiver.default = Answer(status=500, body="boom")
    with clock.frozen_at(START):
        _, delivery_id = await setup_delivery(receiver)
        # when
        delays = await _run_until_settled(delivery_id, hook_settings, http, attempts=20)
    # then 1 + 7 retries on the schedule (±20%), then DEAD, every attempt logged
    assert len(delays) == len(RETRY_SCHEDULE)
    assert all(_within_jitter(d, base) for d, base in zip(delays, RETRY_SCHEDULE, strict=True))
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DEAD and delivery.attempt_count == 8
    attempts = await WebhookAttempt.filter(delivery_id=delivery_id).order_by("id")
    assert [a.status_code for a in attempts] == [500] * 8
    assert attempts[0].response_body == "boom"
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(delivery_id)}


async def test_success_after_three_failures_keeps_the_webhook_id(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    receiver.answer(Answer(500), Answer(502), Answer(504), Answer(200))
    with clock.frozen_at(START):
        _, delivery_id = await setup_delivery(receiver)
        delays = await _run_until_settled(delivery_id, hook_settings, http, attempts=10)
    assert len(delays) == 3
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempt_count == 4
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(delivery_id)] * 4


async def test_timeout_is_retried(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given a receiver that answers only after 8 times the deployment's timeout
    short = replace(hook_settings, webhook_timeout=0.25)
    receiver.answer(Answer(200, delay=2.0))
    with clock.frozen_at(START):
        _, delivery_id = await setup_delivery(receiver)
        # when
        async with new_client(timeout=short.webhook_timeout) as impatient:
            status, result = await deliver(delivery_id, short, impatient)
    # then the attempt is a timeout, retried on the schedule
    assert status == DeliveryStatus.PENDING and result is not None
    assert result.status_code is None and result.error == "Timed out"
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.next_attempt_at is not None
    assert _within_jitter(delivery.next_attempt_at - START, RETRY_SCHEDULE[0])


async def test_redirect_is_a_failure_and_not_followed(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    receiver.answer(Answer(302, headers={"Location": receiver.url + "/elsewhere"}))
    _, delivery_id = await setup_delivery(receiver)
    status, result = await deliver(delivery_id, hook_settings, http)
    assert status == DeliveryStatus.PENDING and result is not None and result.status_code == 302
    assert [r.path for r in receiver.received] == ["/hooks"]  # /elsewhere never requested


async def test_410_kills_the_delivery_and_disables_the_endpoint(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    receiver.answer(Answer(410))
    endpoint, delivery_id = await setup_delivery(receiver)
    status, _ = await deliver(delivery_id, hook_settings, http)
    assert status == DeliveryStatus.DEAD
    stored = await WebhookEndpoint.get(id=endpoint.endpoint.id)
    assert stored.enabled is False and "410" in (stored.disabled_reason or "")


@pytest.mark.parametrize(("status", "seconds"), [(429, 120), (503, 90)])
async def test_429_and_503_honour_retry_after(
    db: str,
    receiver: Receiver,
    hook_settings: Settings,
    http: httpx.AsyncClient,
    status: int,
    seconds: int,
) -> None:
    # given a receiver that says when to come back (rate limited, in maintenance)
    receiver.answer(Answer(status, headers={"Retry-After": str(seconds)}))
    with clock.frozen_at(START):
        _, delivery_id = await setup_delivery(receiver)
        await deliver(delivery_id, hook_settings, http)
    # then the next attempt is when it asked, not the 5 s of the schedule
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at == START + timedelta(seconds=seconds)


async def test_endpoint_failing_too_long_is_disabled(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    receiver.default = Answer(503)
    with clock.frozen_at(START):
        endpoint, first = await setup_delivery(receiver)
        await deliver(first, hook_settings, http)
        # when a new delivery still fails 6 days later
        clock.advance(timedelta(days=6))
        _, second = await _setup_delivery_for(endpoint.endpoint)
        status, _ = await deliver(second, hook_settings, http)
    # then the endpoint is disabled, visibly
    stored = await WebhookEndpoint.get(id=endpoint.endpoint.id)
    assert status == DeliveryStatus.DEAD
    assert stored.enabled is False and stored.disabled_reason.startswith("Failing since")


async def test_provider_answer_postpones_or_fulfils(
    db: str, receiver: Receiver, hook_settings: Settings, http: httpx.AsyncClient
) -> None:
    # given two redemptions whose webhooks get a postponed and a fulfilled answer
    receiver.answer(
        Answer(200, body='{"status": "postponed"}'),
        Answer(200, body='{"status": "fulfilled", "data": {"code": "VC-9"}}'),
    )
    _, postponed = await setup_delivery(receiver, redemption=True)
    _, fulfilled = await setup_delivery(receiver, redemption=True)
    # when
    await deliver(postponed, hook_settings, http)
    await deliver(fulfilled, hook_settings, http)
    # then
    first = await Redemption.get(id=(await WebhookDelivery.get(id=postponed)).redemption_id)
    second = await Redemption.get(id=(await WebhookDelivery.get(id=fulfilled)).redemption_id)
    assert first.status == "POSTPONED"
    assert second.status == "FULFILLED" and second.fulfillment_data == {"code": "VC-9"}
    posted = await RedemptionEvent.filter(redemption_id=second.id, kind="WEBHOOK_POSTED").first()
    assert posted is not None and posted.data is not None
    assert posted.data["statusCode"] == 200 and posted.data["payload"]["points_spent"] == 100
