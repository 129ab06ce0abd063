"""The engine reaches into uvicorn's WebSocket protocol and Strawberry's transport-ws handler
(engine.websocket, engine.live_groups) only on the versions it was checked with; on others
subscriptions take the stock path and still work."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import uvicorn

from engine import live_groups, websocket
from tests.live.client import MY_REDEMPTION_UPDATES, SubscriptionClient
from tests.live.conftest import LiveServer, open_shop, redeem


def test_the_installed_versions_are_the_checked_ones() -> None:
    # An upgrade fails here: check the internals the engine uses (see the modules'
    # docstrings) against the new version, then move the pins and these constants together.
    assert uvicorn.__version__ == websocket.CHECKED_UVICORN_VERSION
    assert version("strawberry-graphql") == live_groups.CHECKED_STRAWBERRY_VERSION
    assert websocket.lends_frame_writers() and live_groups.shares_executions()


async def test_on_other_versions_subscriptions_take_the_stock_path(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an engine that finds versions other than the checked ones
    monkeypatch.setattr(websocket, "CHECKED_UVICORN_VERSION", "0.0.0")
    monkeypatch.setattr(live_groups, "CHECKED_STRAWBERRY_VERSION", "0.0.0")
    shop = await open_shop(server)
    auth = f"Bearer {shop.member_token}"
    # when two identical subscriptions watch a redemption
    async with (
        SubscriptionClient.connected(server.ws_url, auth) as first,
        SubscriptionClient.connected(server.ws_url, auth) as second,
    ):
        await first.subscribe("1", MY_REDEMPTION_UPDATES)
        await second.subscribe("1", MY_REDEMPTION_UPDATES)
        redemption = await redeem(server, shop.member_token, shop.reward_id)
        seen = [await client.data("1") for client in (first, second)]
        groups = server.graphql.live_groups.groups
    # then both get it, each through its own execution (no shared group)
    assert [s["myRedemptionUpdates"]["redemption"]["id"] for s in seen] == [redemption] * 2
    assert groups == 0
