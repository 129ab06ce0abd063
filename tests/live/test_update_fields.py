"""A subscription's objects answer their fields as they are when each update goes out: the
loaders of a WebSocket's context (schema.loaders) batch, and keep nothing from one update
to the next."""

from __future__ import annotations

from tests.live.client import SubscriptionClient
from tests.live.conftest import COMPLETE, LiveServer, open_shop, redeem

MINE_IN_FULL = """
subscription {
  myRedemptionUpdates {
    event { kind }
    redemption { id reward { name } member { id accounts { balance } } events { kind } }
  }
}"""


async def test_each_update_reads_the_redemption_as_it_is_then(server: LiveServer) -> None:
    # given a member watching its redemptions with their reward, member and timeline
    shop = await open_shop(server, points=400, point_cost=100)
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.member_token}") as me:
        await me.subscribe("mine", MINE_IN_FULL)

        # when it redeems, then the backend reports it postponed
        made = await redeem(server, shop.member_token, shop.reward_id)
        (redeemed, withdrawn) = await me.collect("mine", 2)
        await server.gql(COMPLETE, {"id": made, "status": "POSTPONED"}, shop.api_key)
        (postponed,) = await me.collect("mine", 1)

    # then every update names the same reward and member; the timeline the last one reads
    # has the change the earlier ones could not have
    for update in (redeemed, withdrawn, postponed):
        redemption = update["redemption"]
        assert redemption["id"] == made
        assert redemption["reward"]["name"]
        assert redemption["member"] == {"id": str(shop.member_id), "accounts": [{"balance": 300}]}
    assert "STATUS_CHANGED" not in [e["kind"] for e in withdrawn["redemption"]["events"]]
    assert [e["kind"] for e in postponed["redemption"]["events"]][-1] == "STATUS_CHANGED"
    assert postponed["event"]["kind"] == "STATUS_CHANGED"
