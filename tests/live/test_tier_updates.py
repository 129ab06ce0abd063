"""A member's widget learns its new tier live: the balances message carries the tier, and
a tier change (upgrade at a posting, or an admin's override) is announced with it."""

from __future__ import annotations

from tests.live.client import SubscriptionClient
from tests.live.conftest import AWARD, LiveServer, open_shop

BALANCE_AND_TIER = "subscription { myBalanceChanged { balance tier { name rank } } }"
SET_TIER = """mutation($input: SetMemberTierInput!) { setMemberTier(input: $input) {
  tierChange { reason } errors { code } } }"""


async def test_an_upgrade_and_an_override_reach_the_member_live(server: LiveServer) -> None:
    # given a shop whose member has 400 points, Silver from 1,000 earned, Gold by hand
    # (set by the admin over the API, so the engine's caches hear of them)
    shop = await open_shop(server, points=400)
    save = "mutation($i: TierInput!) { saveTier(input: $i) { tier { id } errors { code } } }"
    await server.gql(save, {"i": {"name": "Silver", "rank": 1, "minValue": 1000}}, shop.admin_token)
    gold = await server.gql(save, {"i": {"name": "Gold", "rank": 2}}, shop.admin_token)
    await server.gql(
        "mutation { saveTierPolicy(input: {enabled: true}) { errors { code } } }",
        None,
        shop.admin_token,
    )
    async with SubscriptionClient.connected(server.ws_url, f"Bearer {shop.member_token}") as member:
        await member.subscribe("mine", BALANCE_AND_TIER)
        # when the backend awards 600 points (1,000 earned: Silver)
        award = {"memberId": str(shop.member_id), "amount": 600, "source": "PURCHASE"}
        await server.gql(AWARD, {"input": award}, shop.api_key)
        # and an admin puts the member in Gold by hand
        await server.gql(
            SET_TIER,
            {
                "input": {
                    "memberId": str(shop.member_id),
                    "tierId": gold["tier"]["id"],
                    "reason": "VIP",
                }
            },
            shop.admin_token,
        )
        seen = await member.collect("mine", 2)

    # then the member saw the balance with its new tier, then the override's tier
    assert [(m["balance"], m["tier"]) for m in seen] == [
        (1000, {"name": "Silver", "rank": 1}),
        (1000, {"name": "Gold", "rank": 2}),
    ]
