"""An adjustment the master never accepts: the outbox's retry schedule runs out and the
admin sees it DELIVERY_FAILED, with a delivery to replay (README, Adjustments)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from core import clock
from core.settings import Settings
from models.members.upserts import upsert_member
from models.pointmaster.modes import set_point_mode
from models.pointmaster.settings import rotate_key, save_settings
from models.points.adjustments import Adjustment, adjust_points
from models.tenancy.tables import PointMode
from models.webhooks.outbox import RETRY_SCHEDULE
from models.webhooks.tables import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tests.graphql_client import GraphQLClient, open_tenant
from tests.webhooks.receiver import Answer, Receiver
from workers.webhook_http import new_client
from workers.webhooks import deliver

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ADJUSTMENTS = """query($s: AdjustmentStatus) {
  pointAdjustments(status: $s) { nodes { id status amount deliveryId } }
}"""


async def test_an_adjustment_whose_retries_run_out_is_delivery_failed(
    gql: GraphQLClient, master: Receiver, settings: Settings
) -> None:
    # given a follower whose master answers 500 to everything
    tenant = await open_tenant(gql)
    tenant_id = tenant.tenant_id
    local = replace(settings, webhook_allow_private=True, webhook_timeout=10.0)
    await set_point_mode(tenant_id, PointMode.FOLLOWER_TRANSACTIONS, actor="test")  # type: ignore[arg-type]
    await save_settings(
        tenant_id,  # type: ignore[arg-type]
        "test",
        allow_private=True,
        adjustment_url=master.url + "/add",
    )
    await rotate_key(tenant_id, "test")  # type: ignore[arg-type]
    member, _ = await upsert_member(tenant_id, "contact-7")  # type: ignore[arg-type]
    master.default = Answer(status=500, body="down")
    with clock.frozen_at(START):
        adjusted = await adjust_points(
            Adjustment(
                tenant_id=tenant_id,  # type: ignore[arg-type]
                member_id=member.id,
                definition_id=None,
                amount=25,
                description="goodwill",
                actor="test",
                automation=True,
            )
        )
        assert adjusted.forwarded is not None and adjusted.forwarded.delivery_id is not None
        delivery_id = adjusted.forwarded.delivery_id
        # when the worker tries it on every due time of the schedule
        async with new_client(timeout=local.webhook_timeout) as http:
            for _ in range(len(RETRY_SCHEDULE) + 1):
                await deliver(delivery_id, local, http)
                delivery = await WebhookDelivery.get(id=delivery_id)
                if delivery.next_attempt_at is None:
                    break
                clock.advance(delivery.next_attempt_at - clock.now())
    # then the delivery is dead after the schedule's attempts, every one logged
    delivery = await WebhookDelivery.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DEAD
    assert await WebhookAttempt.filter(delivery_id=delivery_id).count() == len(RETRY_SCHEDULE) + 1
    assert len(master.received) == len(RETRY_SCHEDULE) + 1
    # and the admin sees the adjustment DELIVERY_FAILED, with the delivery to replay
    listed = await gql(ADJUSTMENTS, {"s": "DELIVERY_FAILED"}, tenant.admin_token)
    assert listed["data"]["pointAdjustments"]["nodes"] == [
        {
            "id": str(adjusted.forwarded.id),  # type: ignore[union-attr]
            "status": "DELIVERY_FAILED",
            "amount": 25,
            "deliveryId": str(delivery_id),
        }
    ]
