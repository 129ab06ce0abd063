"""The API process's Redis subscription drops: subscribers are told, and resuming fills the gap."""

from __future__ import annotations

from models.redemptions.tables import RedemptionEvent
from tests.live.client import REDEMPTION_UPDATES, SubscriptionClient, error_codes
from tests.live.conftest import LiveServer, open_shop, redeem


def _drop_broker_connection(server: LiveServer) -> None:
    """What a Redis restart or a network cut does to the broker's subscription connection."""
    connection = server.broker._pubsub.connection
    connection._writer.transport.abort()


async def test_subscribers_are_told_to_resume_after_the_broker_lost_redis(
    server: LiveServer,
) -> None:
    # given an admin watching live, who has seen a first redemption
    shop = await open_shop(server, points=1000)
    auth = f"Bearer {shop.admin_token}"
    async with SubscriptionClient.connected(server.ws_url, auth) as admin:
        await admin.subscribe("1", REDEMPTION_UPDATES)
        await redeem(server, shop.member_token, shop.reward_id)
        seen = await admin.collect("1", 2)

        # when the server's Redis subscription drops, and a redemption happens meanwhile
        _drop_broker_connection(server)
        during = await redeem(server, shop.member_token, shop.reward_id)
        told = await admin.next("1")
        ended = await admin.ended("1")

        # and the admin subscribes again after the last event it received
        cursor = told["errors"][0]["extensions"]["lastEventId"]
        await admin.subscribe("2", REDEMPTION_UPDATES, {"after": str(cursor)})
        resumed = await admin.collect("2", 2)
        after = await redeem(server, shop.member_token, shop.reward_id)
        live = await admin.collect("2", 2)

    # then it was told to resume from the last event it had, and resuming filled the gap
    assert error_codes(told) == ["UPDATES_INTERRUPTED"]
    assert str(cursor) == seen[-1]["eventId"]
    assert ended.completed
    stored = await RedemptionEvent.filter(tenant_id=shop.tenant_id, id__gt=cursor).order_by("id")
    assert [u["eventId"] for u in resumed + live] == [str(e.id) for e in stored]
    assert {u["redemption"]["id"] for u in resumed} == {during}
    assert {u["redemption"]["id"] for u in live} == {after}
