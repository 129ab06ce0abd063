"""README promises of redemptions in follower mode that no other test held: the timeline
names the adjustment sent to the master, and a disabled adjustment endpoint refuses a
redemption instead of spending points the master would never hear of."""

from __future__ import annotations

import pytest

from models.pointmaster.settings import PointMasterSettings
from models.redemptions.tables import RedemptionEvent, RedemptionEventKind
from models.tenancy.tables import PointMode
from models.webhooks.tables import WebhookEndpoint
from tests.pointmaster.live_engine import Engine
from tests.pointmaster.test_adjustments import received
from tests.pointmaster.test_redemption_forwards import balance, member_with_points, redeem
from tests.webhooks.receiver import Receiver

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def test_the_timeline_names_the_adjustment_sent_to_the_master(
    engine: Engine, master: Receiver
) -> None:
    # given a FOLLOWER_TRANSACTIONS member with 500 points from the master
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_TRANSACTIONS)
    # when the member redeems
    redemption = (await redeem(engine, tenant, reward_id))["redemption"]
    (body,) = await received(master, 1)
    # then the POINTS_WITHDRAWN event carries the id of the adjustment the master received
    withdrawn = await RedemptionEvent.get(
        redemption_id=redemption["id"], kind=RedemptionEventKind.POINTS_WITHDRAWN
    )
    assert withdrawn.data is not None
    assert withdrawn.data["forwardedAdjustmentId"] == body["id"]


async def test_a_disabled_adjustment_endpoint_refuses_the_redemption(
    engine: Engine, master: Receiver
) -> None:
    # given a follower whose adjustment endpoint the engine disabled (the master answered
    # 410, or failed for days)
    tenant, _, reward_id = await member_with_points(engine, master, PointMode.FOLLOWER_BALANCE)
    settings = await PointMasterSettings.get(tenant_id=tenant.id)
    assert settings.adjustment_endpoint_id is not None
    await WebhookEndpoint.filter(id=settings.adjustment_endpoint_id).update(
        enabled=False, disabled_reason="The endpoint answered 410 Gone"
    )
    # when the member redeems
    answer = await redeem(engine, tenant, reward_id)
    # then it is refused with the README's code, and nothing is spent or sent
    assert [e["code"] for e in answer["errors"]] == ["ADJUSTMENT_ENDPOINT_DISABLED"]
    assert answer["redemption"] is None
    assert await balance(tenant) == 500
    assert master.received == []
