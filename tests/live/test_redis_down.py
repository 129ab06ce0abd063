"""Subscribing while the API process's Redis is down: a coded error that says to subscribe
again later, never "Unexpected error."; once Redis is back, subscribing works again."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from core.settings import Settings
from engine.embedded import EmbeddedRedis
from tests.live.client import REDEMPTION_UPDATES, SubscriptionClient, error_codes
from tests.live.conftest import open_shop, redeem, serving

# A cursor written into the document: such a subscription runs on its own, not in a group.
INLINE_AFTER = REDEMPTION_UPDATES.replace(
    "subscription($filter: RedemptionUpdateFilter, $after: ID)", "subscription"
).replace("(filter: $filter, after: $after)", '(after: "1")')


async def test_subscribing_while_redis_is_down_gives_a_code_then_works_again(
    db: str, settings: Settings, tmp_path: Path
) -> None:
    # given an engine on a Redis of its own, and a shop whose admin is logged in
    redis = EmbeddedRedis(tmp_path)
    url = await asyncio.to_thread(redis.start)
    try:
        async with serving(dataclasses.replace(settings, redis_url=url)) as server:
            shop = await open_shop(server, points=1000)
            auth = f"Bearer {shop.admin_token}"

            # when Redis stops and the admin subscribes, shared and on its own
            await asyncio.to_thread(redis.stop)
            async with SubscriptionClient.connected(server.ws_url, auth) as admin:
                await admin.subscribe("shared", REDEMPTION_UPDATES)
                await admin.subscribe("alone", INLINE_AFTER)
                shared = await admin.next("shared")
                alone = await admin.next("alone")
                ended = [await admin.ended("shared"), await admin.ended("alone")]

            # then each is told, with a code, to subscribe again later
            assert error_codes(shared) == ["UPDATES_UNAVAILABLE"], shared
            assert error_codes(alone) == ["UPDATES_UNAVAILABLE"], alone
            assert "subscribe again later" in alone["errors"][0]["message"]
            assert alone["errors"][0]["extensions"]["lastEventId"] == 1
            assert all(operation.completed for operation in ended)

            # when Redis is back and the admin subscribes again
            await asyncio.to_thread(redis.start)
            async with SubscriptionClient.connected(server.ws_url, auth) as admin:
                await admin.subscribe("again", REDEMPTION_UPDATES)
                redemption_id = await redeem(server, shop.member_token, shop.reward_id)
                updates = await admin.collect("again", 2)

            # then live updates flow again
            assert {u["redemption"]["id"] for u in updates} == {redemption_id}
    finally:
        await asyncio.to_thread(redis.stop)
