"""One attempt at a time per delivery, whatever replays, duplicate jobs and late workers do."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core import clock
from core.settings import Settings
from models.webhooks.attempts import plan, record_many
from models.webhooks.lease import lease_many
from models.webhooks.outbox import AttemptResult, replay
from models.webhooks.tables import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.test_delivery import setup_delivery
from workers.webhook_http import new_client
from workers.webhooks import deliver

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DISABLE_AFTER = timedelta(days=5)


async def test_replay_of_a_delivery_in_flight_does_not_send_it_twice(
    db: str, receiver: Receiver, hook_settings: Settings
) -> None:
    # given a delivery whose POST is in flight to a slow receiver
    endpoint, delivery_id = await setup_delivery(receiver)
    tenant_id = endpoint.endpoint.tenant_id
    receiver.answer(Answer(200, delay=1.0))
    settings = replace(hook_settings, webhook_timeout=5.0)
    async with new_client(settings.webhook_timeout) as http:
        first = asyncio.create_task(deliver(delivery_id, settings, http))
        async with asyncio.timeout(5):
            while not receiver.received:  # noqa: ASYNC110 - the receiver has no event
                await asyncio.sleep(0.01)

        # when an admin replays it, and the replay's job runs at once
        replayed = await replay(tenant_id, delivery_id)
        second = await deliver(delivery_id, settings, http)
        first_status, _ = await first

    # then the replay left the attempt in flight alone: one POST, recorded once
    assert replayed.leased_until is not None
    assert second == (None, None)
    assert first_status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempt_count == 1


async def test_two_jobs_for_one_delivery_at_once_send_it_once(
    db: str, receiver: Receiver, hook_settings: Settings, http: Any
) -> None:
    # given a due delivery whose job arq runs twice at the same moment
    _, delivery_id = await setup_delivery(receiver)

    # when both run (their leases go to the database in the same batch)
    results = await asyncio.gather(
        deliver(delivery_id, hook_settings, http), deliver(delivery_id, hook_settings, http)
    )

    # then one of them sent it, the other stood aside
    assert sorted(str(status) for status, _ in results) == ["DELIVERED", "None"]
    assert len(receiver.received) == 1
    assert await WebhookAttempt.filter(delivery_id=delivery_id).count() == 1


async def test_a_late_attempt_does_not_overwrite_the_attempt_that_replaced_it(
    db: str, receiver: Receiver
) -> None:
    with clock.frozen_at(START):
        # given a worker whose lease ran out mid-POST, and a second worker that took over
        _, delivery_id = await setup_delivery(receiver)
        late = (await lease_many([delivery_id], duration=timedelta(seconds=60))).get(delivery_id)
        assert late is not None
        clock.advance(timedelta(seconds=61))
        current = (await lease_many([delivery_id], duration=timedelta(seconds=60))).get(delivery_id)
        assert current is not None

        # when the late worker's 500 comes back and is recorded
        late_plan = plan(late, AttemptResult(500, 30, "busy", None), disable_after=DISABLE_AFTER)
        (late_applied,) = await record_many([late_plan])

        # then its attempt is logged, but the delivery stays with the second worker's lease
        assert late_applied is False
        row = await WebhookDelivery.get(id=delivery_id)
        assert row.leased_until == current.token and row.attempt_count == 0
        assert row.status == DeliveryStatus.PENDING
        assert await lease_many([delivery_id]) == {}  # nobody else may send it meanwhile

        # and the second worker's 200 settles it
        current_plan = plan(current, AttemptResult(200, 20, "", None), disable_after=DISABLE_AFTER)
        (current_applied,) = await record_many([current_plan])
    assert current_applied is True and current_plan.status == DeliveryStatus.DELIVERED
    row = await WebhookDelivery.get(id=delivery_id)
    assert row.status == DeliveryStatus.DELIVERED and row.attempt_count == 1
    assert row.leased_until is None
    attempts = await WebhookAttempt.filter(delivery_id=delivery_id).order_by("id")
    assert [a.status_code for a in attempts] == [500, 200]


async def test_a_response_with_a_nul_byte_is_recorded(
    db: str, receiver: Receiver, hook_settings: Settings, http: Any
) -> None:
    # given a receiver whose answer holds a NUL byte (PostgreSQL text cannot store one)
    _, delivery_id = await setup_delivery(receiver)
    receiver.answer(Answer(200, body="ok\x00"))

    # when
    status, _ = await deliver(delivery_id, hook_settings, http)

    # then the attempt is stored, the NUL replaced
    assert status == DeliveryStatus.DELIVERED
    (attempt,) = await WebhookAttempt.filter(delivery_id=delivery_id)
    assert attempt.response_body == "ok\ufffd"
