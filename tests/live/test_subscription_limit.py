"""GAMIFY_MAX_SUBSCRIPTIONS_PER_CONNECTION: a connection holds at most that many."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from tests.live.client import MY_BALANCE, MY_REDEMPTION_UPDATES, SubscriptionClient
from tests.live.conftest import LiveServer, open_shop, redeem, serving

LIMIT = 2


@pytest.fixture
async def limited(db: str, live_settings: Settings) -> AsyncIterator[LiveServer]:
    settings = dataclasses.replace(live_settings, max_subscriptions_per_connection=LIMIT)
    async with serving(settings) as running:
        yield running


async def test_a_connection_holds_at_most_the_limit(limited: LiveServer) -> None:
    # given a member's connection already holding the limit's worth of subscriptions
    shop = await open_shop(limited)
    auth = f"Bearer {shop.member_token}"
    async with (
        SubscriptionClient.connected(limited.ws_url, auth) as client,
        SubscriptionClient.connected(limited.ws_url, auth) as second,
    ):
        await client.subscribe("1", MY_REDEMPTION_UPDATES)
        await client.subscribe("2", MY_BALANCE)
        # when it asks for one more, and another connection asks for one
        refused = await client.subscribe("3", MY_REDEMPTION_UPDATES)
        await client.ended("3")
        await second.subscribe("1", MY_REDEMPTION_UPDATES)
        # and then something happens that both would report
        redemption = await redeem(limited, shop.member_token, shop.reward_id)
        first_seen = await client.data("1")
        second_seen = await second.data("1")

    # then the extra one is refused with the README's words; the others keep working
    assert [e["message"] for e in refused.errors[0]] == ["Subscription limit reached"]
    assert not refused.results
    for seen in (first_seen, second_seen):
        assert seen["myRedemptionUpdates"]["redemption"]["id"] == redemption
